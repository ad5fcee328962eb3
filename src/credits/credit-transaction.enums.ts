import { registerEnumType } from 'type-graphql';

export enum CreditTransactionType {
  PURCHASE = 'purchase',
  CONSUMPTION = 'consumption',
  REFUND = 'refund',
  GRANT = 'grant',
  /** What was left of an expiring grant when it lapsed, leaving the balance. */
  EXPIRATION = 'expiration',
  /** The disputed share of a purchase, taken back when the buyer's bank opened a dispute (a chargeback). */
  DISPUTE = 'dispute',
  /** What a dispute took, given back when the dispute was closed in the seller's favour. */
  DISPUTE_WON = 'dispute_won',
  /** The account's plan changed (a subscription event, or an admin's setPlan): no credits move; the audit trail. */
  PLAN_CHANGE = 'plan_change',
}

/** Types whose rows add credits; every other type removes them (or nothing). */
export const CREDIT_TYPES: readonly CreditTransactionType[] = [CreditTransactionType.PURCHASE, CreditTransactionType.GRANT, CreditTransactionType.DISPUTE_WON];

export enum CreditTransactionStatus {
  PENDING = 'pending',
  COMPLETED = 'completed',
  FAILED = 'failed',
}

registerEnumType(CreditTransactionType, { name: 'CreditTransactionType' });
registerEnumType(CreditTransactionStatus, { name: 'CreditTransactionStatus' });

/** The feature name that `consumeWorkshopCredit` charges under; reserved for it. */
export const WORKSHOP_FEATURE = 'workshop';
