import { Check, Entity, Enum, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import { PlanEntity } from './plan.entity.js';
import { SubscriptionStatus } from './subscription-status.js';

export enum AccountKind {
  PERSONAL = 'personal',
  ORGANIZATION = 'organization',
}

/**
 * What holds a balance: a user's personal account (its id is the user's, usr_...) or an organization's (org_...).
 * Every ledger row, hold, grant, purchase and idempotency key belongs to one account; the posting core
 * (credits/posting/) is the only code that changes its credits.
 */
@Entity({ tableName: 'accounts' })
@Check({ name: 'accounts_credit_balance_check', expression: 'credit_balance >= 0' })
// Held and expiring credits are parts of the balance; the posting core keeps both within it.
@Check({ name: 'accounts_held_credits_check', expression: 'held_credits >= 0 and held_credits <= credit_balance' })
@Check({ name: 'accounts_expiring_credits_check', expression: 'expiring_credits >= 0 and expiring_credits <= credit_balance' })
@Check({ name: 'accounts_open_reservations_check', expression: 'open_reservations >= 0' })
@Check({ name: 'accounts_low_balance_threshold_check', expression: 'low_balance_threshold is null or low_balance_threshold >= 0' })
@Check({
  name: 'accounts_auto_recharge_check',
  expression: 'not auto_recharge_enabled or (auto_recharge_threshold is not null and auto_recharge_pack_id is not null and auto_recharge_monthly_limit is not null)',
})
@Check({
  name: 'accounts_auto_recharge_counts_check',
  expression:
    'auto_recharge_count >= 0 and auto_recharge_failures >= 0 and (auto_recharge_threshold is null or auto_recharge_threshold >= 0) and (auto_recharge_monthly_limit is null or auto_recharge_monthly_limit >= 1)',
})
export class AccountEntity {
  [OptionalProps]?: 'creditBalance' | 'heldCredits' | 'expiringCredits' | 'openReservations' | 'plan' | 'cancelAtPeriodEnd' | 'eventSeq' | 'autoRechargeEnabled' | 'autoRechargeCount' | 'autoRechargeFailures' | 'createdAt' | 'updatedAt';

  @PrimaryKey({ type: 'text' })
  id!: string;

  @Enum({ items: () => AccountKind, type: 'text' })
  kind!: AccountKind;

  @Property({ type: 'integer', default: 0 })
  creditBalance: number = 0;

  @Property({ type: 'integer', default: 0 })
  heldCredits: number = 0;

  @Property({ type: 'integer', default: 0 })
  expiringCredits: number = 0;

  /** HELD reservations, counted where they are made and resolved, so the cap on them is exact. */
  @Property({ type: 'integer', default: 0 })
  openReservations: number = 0;

  /** The plan the account is on (its tier): set by its Stripe subscription, or by an admin (setPlan). */
  @ManyToOne(() => PlanEntity, { fieldName: 'plan_tier', default: 'free', deleteRule: 'no action', updateRule: 'no action' })
  plan!: PlanEntity;

  @Index({ name: 'accounts_stripe_customer_id_index' })
  @Property({ type: 'text', nullable: true })
  stripeCustomerId?: string | null;

  /** A downgrade made mid-period: the plan the account moves to when its current period ends. */
  @ManyToOne(() => PlanEntity, { fieldName: 'scheduled_plan_tier', nullable: true, deleteRule: 'no action', updateRule: 'no action' })
  scheduledPlan?: PlanEntity | null;

  /** The Stripe subscription that sets the plan (sub_...), while there is one. */
  @Property({ type: 'text', nullable: true, unique: 'accounts_stripe_subscription_id_unique' })
  stripeSubscriptionId?: string | null;

  @Enum({ items: () => SubscriptionStatus, type: 'text', nullable: true })
  subscriptionStatus?: SubscriptionStatus | null;

  @Property({ type: 'timestamptz', nullable: true })
  currentPeriodStart?: Date | null;

  @Property({ type: 'timestamptz', nullable: true })
  currentPeriodEnd?: Date | null;

  @Property({ type: 'boolean', default: false })
  cancelAtPeriodEnd: boolean = false;

  /** When Stripe created the current subscription: a newer subscription replaces it, an older one never does. */
  @Property({ type: 'timestamptz', nullable: true })
  subscriptionCreatedAt?: Date | null;

  /** When the newest subscription event applied was created: an older state never overwrites a newer one. */
  @Property({ type: 'timestamptz', nullable: true })
  subscriptionEventAt?: Date | null;

  /** The sequence number of the account's last event (events/outbox.ts takes the next one under the row lock). */
  @Property({ type: 'bigint', defaultRaw: '0' })
  eventSeq?: string;

  /** balance.low is emitted when the spendable balance crosses below this (null: no alert). */
  @Property({ type: 'integer', nullable: true })
  lowBalanceThreshold?: number | null;

  /** The card saved for off-session payments (auto-recharge), pm_... */
  @Property({ type: 'text', nullable: true })
  stripePaymentMethodId?: string | null;

  /** Auto-recharge: when a decrease leaves the spendable balance under the threshold, buy the pack (database trigger). */
  @Property({ type: 'boolean', default: false })
  autoRechargeEnabled: boolean = false;

  @Property({ type: 'integer', nullable: true })
  autoRechargeThreshold?: number | null;

  /** A credit pack id (not a foreign key here: packs belong to billing, above accounts; billing checks it). */
  @Property({ type: 'text', nullable: true })
  autoRechargePackId?: string | null;

  /** Recharges per UTC calendar month. */
  @Property({ type: 'integer', nullable: true })
  autoRechargeMonthlyLimit?: number | null;

  /** The month autoRechargeCount counts (its first day). */
  @Property({ type: 'date', nullable: true })
  autoRechargeMonth?: string | null;

  /** Recharges begun this month, less those that failed. */
  @Property({ type: 'integer', default: 0 })
  autoRechargeCount: number = 0;

  /** The attempt in flight, if any (at most one). */
  @Property({ type: 'text', nullable: true })
  autoRechargeAttemptId?: string | null;

  /** Failed attempts in a row; the fourth disables auto-recharge. */
  @Property({ type: 'integer', default: 0 })
  autoRechargeFailures: number = 0;

  /** No attempt before this (the back-off after a failure). */
  @Property({ type: 'timestamptz', nullable: true })
  autoRechargeNotBefore?: Date | null;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  updatedAt: Date = new Date();
}
