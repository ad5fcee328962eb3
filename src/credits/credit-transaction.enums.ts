import { registerEnumType } from 'type-graphql';

export enum CreditTransactionType {
  PURCHASE = 'purchase',
  CONSUMPTION = 'consumption',
  REFUND = 'refund',
  GRANT = 'grant',
  /** What was left of an expiring grant when it lapsed, leaving the balance. */
  EXPIRATION = 'expiration',
}

export enum CreditTransactionStatus {
  PENDING = 'pending',
  COMPLETED = 'completed',
  FAILED = 'failed',
}

registerEnumType(CreditTransactionType, { name: 'CreditTransactionType' });
registerEnumType(CreditTransactionStatus, { name: 'CreditTransactionStatus' });

/** The feature name that `consumeWorkshopCredit` charges under; reserved for it. */
export const WORKSHOP_FEATURE = 'workshop';
