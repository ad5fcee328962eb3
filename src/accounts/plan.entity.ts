import { Check, Entity, Enum, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';

export enum PlanInterval {
  MONTH = 'month',
  YEAR = 'year',
}

/**
 * A plan: the credits an account on it receives each period, how many of the unspent ones carry over, and the
 * recurring Stripe Price that sells it. Its id is the tier name an account's plan_tier holds (free, pro, team).
 */
@Entity({ tableName: 'plans' })
@Check({ name: 'plans_monthly_credits_check', expression: 'monthly_credits >= 0' })
@Check({ name: 'plans_rollover_cap_check', expression: 'rollover_cap is null or rollover_cap >= 0' })
@Check({ name: 'plans_price_cents_check', expression: 'price_cents >= 0' })
@Check({ name: 'plans_trial_days_check', expression: 'trial_days is null or (trial_days >= 1 and trial_days <= 730)' })
export class PlanEntity {
  [OptionalProps]?: 'monthlyCredits' | 'priceCents' | 'currency' | 'interval' | 'active' | 'sortOrder' | 'createdAt' | 'updatedAt';

  @PrimaryKey({ type: 'text' })
  id!: string;

  @Property({ type: 'text' })
  name!: string;

  /** Credits each period (each UTC calendar month for an account without a subscription). */
  @Property({ type: 'integer', default: 0 })
  monthlyCredits: number = 0;

  /** At most this many unspent credits of a period carry over into the next; null: none. */
  @Property({ type: 'integer', nullable: true })
  rolloverCap?: number | null;

  @Property({ type: 'text', nullable: true, unique: 'plans_stripe_price_id_unique' })
  stripePriceId?: string | null;

  @Property({ type: 'integer', default: 0 })
  priceCents: number = 0;

  @Property({ type: 'text', default: 'usd' })
  currency: string = 'usd';

  @Enum({ items: () => PlanInterval, type: 'text', default: PlanInterval.MONTH })
  interval: PlanInterval = PlanInterval.MONTH;

  /** A free trial of this many days when subscribing through Checkout; null: none. */
  @Property({ type: 'integer', nullable: true })
  trialDays?: number | null;

  @Property({ type: 'boolean', default: true })
  active: boolean = true;

  @Property({ type: 'integer', default: 0 })
  sortOrder: number = 0;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  updatedAt: Date = new Date();
}
