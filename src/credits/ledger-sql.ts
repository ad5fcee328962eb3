/**
 * The statements and constraint names of the ledger (postings.ts and the ledger services run them). Kept apart so the benchmark's raw-SQL
 * ceiling can import exactly what a request sends.
 */

export const IDEMPOTENCY_CONSTRAINT = 'credit_transactions_user_idempotency_key_unique';
export const WORKSHOP_CHARGE_CONSTRAINT = 'credit_transactions_workshop_charge_unique';
export const RESERVATION_KEY_CONSTRAINT = 'reservations_user_idempotency_key_unique';
export const STRIPE_SESSION_CONSTRAINT = 'credit_transactions_stripe_session_id_unique';

/** Appends the COMPLETED row for the balance `moved` left; effective_at is read while the user row is locked. */
const INSERT_POSTED_ROW = `
insert into credit_transactions (id, user_id, type, status, amount, balance_after, description, feature,
  idempotency_key, request_hash, workshop_id, stripe_session_id, stripe_payment_intent_id, refund_of_id,
  credits_reversed, metadata, effective_at, created_at)
select ?, ?, ?, 'completed', ?, moved.credit_balance, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, clock_timestamp(), now()
from moved
returning *`;

/**
 * The fast path: moves the balance by `amount` and appends the COMPLETED row carrying the balance that resulted. A
 * credit always applies. A debit applies only when the spendable balance (balance - held) covers it and the user has
 * no expiring credits; with expiring credits the `-1` lets only an addition (amount >= 1) through, because a debit
 * must record which grants it drew from (the slow path). No row comes back otherwise, and nothing was written.
 */
export const POST_SQL = `
with moved as (
  update users set credit_balance = credit_balance + ?, updated_at = now()
  where id = ? and ? + case when expiring_credits = 0 then credit_balance - held_credits else -1 end >= 0
  returning credit_balance
)${INSERT_POSTED_ROW}`;

/** The slow path's posting: the user row is locked and every check done in code; the CHECK constraints back it. */
export const POST_LOCKED_SQL = `
with moved as (
  update users set credit_balance = credit_balance + ?, held_credits = held_credits + ?,
    expiring_credits = expiring_credits + ?, updated_at = now()
  where id = ?
  returning credit_balance
)${INSERT_POSTED_ROW}`;

/** Sets credits aside: held_credits grows (under `condition`) and the reservation row is written, in one statement. */
const holdSql = (condition: string) => `
with held as (
  update users set held_credits = held_credits + ?, updated_at = now()
  where id = ?${condition}
  returning id
)
insert into reservations (id, user_id, amount, status, feature, idempotency_key, request_hash, description,
  expires_at, created_at)
select ?, held.id, ?, 'held', ?, ?, ?, ?, ?, now() from held
returning *`;

/** Fast path of a hold: no expiring credits to expire first, and enough spendable balance. */
export const RESERVE_SQL = holdSql(' and expiring_credits = 0 and credit_balance - held_credits >= ?');
export const RESERVE_LOCKED_SQL = holdSql('');

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string } | null;
  return !!e && e.code === '23505' && (constraint === undefined || e.constraint === constraint);
}
