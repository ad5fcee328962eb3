import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, ID, Int, ObjectType } from 'type-graphql';
import type { Row } from '../database/rows.js';

/** The Plan GraphQL type: a read model of a plans row (public: what a pricing page shows). */
@ObjectType('Plan', { description: 'A plan: the credits each period brings, and its price.' })
export class Plan {
  @Field(() => ID, { description: "The plan's id, which is also the planTier of the accounts on it (free, pro, team...)." })
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => Int, { description: 'Credits each month of a subscription (or each UTC calendar month without one).' })
  monthlyCredits!: number;

  @Field(() => Int, { nullable: true, description: 'At most this many unspent credits of a period carry over into the next; null: none.' })
  rolloverCap!: number | null;

  @Field(() => Int)
  priceCents!: number;

  @Field(() => String, { description: 'ISO currency code, lower case as Stripe uses it.' })
  currency!: string;

  @Field(() => String, { description: 'How often it is billed: month or year.' })
  interval!: string;

  @Field(() => Int, { nullable: true, description: 'Days of free trial when subscribing; null: none.' })
  trialDays!: number | null;

  /** The recurring Stripe Price that sells it; null: not for sale through Checkout. */
  stripePriceId!: string | null;

  active!: boolean;
}

export const toPlan = (row: Row): Plan => ({
  id: String(row.id),
  name: String(row.name),
  monthlyCredits: Number(row.monthly_credits),
  rolloverCap: row.rollover_cap === null ? null : Number(row.rollover_cap),
  priceCents: Number(row.price_cents),
  currency: String(row.currency),
  interval: String(row.interval),
  trialDays: row.trial_days === null ? null : Number(row.trial_days),
  stripePriceId: row.stripe_price_id === null ? null : String(row.stripe_price_id),
  active: row.active === true,
});

/** Plans are a catalogue: at most this many are listed. */
export const MAX_LISTED_PLANS = 100;

export async function activePlans(em: EntityManager): Promise<Plan[]> {
  const rows = await em.execute<Row[]>('select * from plans where active order by sort_order, price_cents, id limit ?', [MAX_LISTED_PLANS]);
  return rows.map(toPlan);
}

export async function findPlan(em: EntityManager, id: string): Promise<Plan | undefined> {
  const [row] = await em.execute<Row[]>('select * from plans where id = ?', [id]);
  return row ? toPlan(row) : undefined;
}

export async function planOfPrice(em: EntityManager, priceId: string): Promise<Plan | undefined> {
  const [row] = await em.execute<Row[]>('select * from plans where stripe_price_id = ?', [priceId]);
  return row ? toPlan(row) : undefined;
}

/** The credits a subscription period brings: the plan's monthly credits, times 12 for a yearly plan. */
export const periodCredits = (plan: Plan) => plan.monthlyCredits * (plan.interval === 'year' ? 12 : 1);
