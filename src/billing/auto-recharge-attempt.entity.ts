import { Check, Entity, Enum, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import { AccountEntity } from '../accounts/account.entity.js';
import { CreditPackEntity } from './credit-pack.entity.js';

export enum AutoRechargeAttemptStatus {
  /** Recorded by the posting that crossed the threshold; the worker has not asked Stripe yet. */
  PENDING = 'pending',
  /** Stripe was asked for the off-session payment; credits come with payment_intent.succeeded. */
  PROCESSING = 'processing',
  SUCCEEDED = 'succeeded',
  FAILED = 'failed',
}

/**
 * One auto-recharge: the account's pack bought off-session with its saved card. Recorded (by a database trigger) in
 * the transaction of the posting that took the spendable balance under the threshold, at most one in flight per
 * account; the recharge worker asks Stripe outside any transaction, with the attempt's id as the idempotency key.
 */
@Entity({ tableName: 'auto_recharge_attempts' })
@Index({ name: 'auto_recharge_attempts_account_index', properties: ['account', 'createdAt'] })
@Index({ name: 'auto_recharge_attempts_due_index', properties: ['nextTryAt'], where: "status in ('pending', 'processing')" })
@Check({ name: 'auto_recharge_attempts_tries_check', expression: 'tries >= 0' })
export class AutoRechargeAttemptEntity {
  [OptionalProps]?: 'status' | 'tries' | 'nextTryAt' | 'createdAt' | 'updatedAt';

  @PrimaryKey({ type: 'text' })
  id!: string;

  @ManyToOne(() => AccountEntity, { deleteRule: 'no action', updateRule: 'no action' })
  account!: AccountEntity;

  @ManyToOne(() => CreditPackEntity, { deleteRule: 'no action', updateRule: 'no action' })
  pack!: CreditPackEntity;

  @Enum({ items: () => AutoRechargeAttemptStatus, type: 'text', default: AutoRechargeAttemptStatus.PENDING })
  status: AutoRechargeAttemptStatus = AutoRechargeAttemptStatus.PENDING;

  @Property({ type: 'text', nullable: true, unique: 'auto_recharge_attempts_stripe_payment_intent_id_unique' })
  stripePaymentIntentId?: string | null;

  /** Why it failed: Stripe's decline code, `authentication_required`, or the provider being unreachable. */
  @Property({ type: 'text', nullable: true })
  failureReason?: string | null;

  /** Calls to Stripe made for it (a network failure is tried again, with the same idempotency key). */
  @Property({ type: 'integer', default: 0 })
  tries: number = 0;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  nextTryAt: Date = new Date();

  /** The PURCHASE row its payment completed. */
  @Property({ type: 'text', nullable: true })
  purchaseId?: string | null;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  updatedAt: Date = new Date();

  @Property({ type: 'timestamptz', nullable: true })
  completedAt?: Date | null;
}
