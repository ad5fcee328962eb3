/** Unique constraints the ledger's services rely on when a concurrent request won a race (see the migrations). */
export const IDEMPOTENCY_KEY_UNIQUE = 'credit_transactions_account_idempotency_key_unique';
export const WORKSHOP_CHARGE_UNIQUE = 'credit_transactions_workshop_charge_unique';
export const RESERVATION_KEY_UNIQUE = 'reservations_account_idempotency_key_unique';
