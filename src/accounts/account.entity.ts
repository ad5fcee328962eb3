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
export class AccountEntity {
  [OptionalProps]?: 'creditBalance' | 'heldCredits' | 'expiringCredits' | 'openReservations' | 'plan' | 'cancelAtPeriodEnd' | 'createdAt' | 'updatedAt';

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

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  updatedAt: Date = new Date();
}
