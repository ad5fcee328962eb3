import { CreateSubscriptionCheckoutDocument } from '../generated/graphql.js';
import { deliver, stripeEvent, type Billing, type StripeEventPayload } from './billing.js';
import type { TestServer } from './server.js';
import type { Changed } from './stripe-subscriptions.js';

/**
 * Subscriptions in tests: plans with small numbers and their recurring prices in the stand-in, a subscribe step that
 * goes through the API and the customer's Checkout, and the events Stripe sends for each change.
 */

/** PLAN_ALLOWANCES/PLAN_PRICES for the billing server: pro 50 and team 200 credits a month, 20 rolling over. */
export const SUBSCRIPTION_ENV = {
  PLAN_ALLOWANCES: 'pro:50,team:200',
  PLAN_ALLOWANCE_ROLLOVER_CAP: '20',
  PLAN_PRICES: 'pro:price_pro_monthly,team:price_team_monthly,starter:price_starter_monthly,annual:price_pro_yearly',
};

export const PLAN_CREDITS = { pro: 50, team: 200, starter: 30, annual: 50 } as const;

/** The stand-in's recurring prices, and the plans that are not in the migration's seed (a trial plan, a yearly one). */
export async function setUpPlans(billing: Billing) {
  const { stripe, server } = billing;
  stripe.prices.set('price_pro_monthly', { unit_amount: 2000, currency: 'usd', recurring: { interval: 'month' } });
  stripe.prices.set('price_team_monthly', { unit_amount: 9900, currency: 'usd', recurring: { interval: 'month' } });
  stripe.prices.set('price_starter_monthly', { unit_amount: 500, currency: 'usd', recurring: { interval: 'month' } });
  stripe.prices.set('price_pro_yearly', { unit_amount: 20000, currency: 'usd', recurring: { interval: 'year' } });
  await server.sql.query(`update plans set monthly_credits = 30, rollover_cap = 10, price_cents = 500, trial_days = 14 where id = 'starter'`);
  await server.sql.query(`update plans set monthly_credits = 50, rollover_cap = null, price_cents = 20000, interval = 'year' where id = 'annual'`);
}

/** Subscribes through the API and Stripe's hosted page: what the customer's Checkout did, and the session's id. */
export async function subscribe(billing: Billing, sub: string, planId: string, organizationId?: string): Promise<Changed & { sessionId: string }> {
  const res = await billing.server.as(sub).execute(CreateSubscriptionCheckoutDocument, { input: { planId, ...(organizationId ? { organizationId } : {}) } });
  const session = res.data?.createSubscriptionCheckout;
  if (!session) throw new Error(`subscription checkout failed: ${JSON.stringify(res.errors)}`);
  return { ...billing.stripe.completeSubscriptionSession(session.id), sessionId: session.id };
}

/** The events Stripe sends when a subscription starts: subscription created, first invoice paid, session completed. */
export function startEvents(started: Changed & { session?: Record<string, unknown> }): StripeEventPayload[] {
  return [
    stripeEvent('customer.subscription.created', started.subscription, started.at),
    stripeEvent('invoice.paid', started.invoice!, started.at),
    ...(started.session ? [stripeEvent('checkout.session.completed', started.session, started.at)] : []),
  ];
}

/** The events of a renewal or a change: the subscription updated (or deleted), and its invoice paid or failed. */
export function changeEvents(changed: Changed): StripeEventPayload[] {
  const status = changed.subscription.status;
  const events = [stripeEvent(status === 'canceled' ? 'customer.subscription.deleted' : 'customer.subscription.updated', changed.subscription, changed.at)];
  if (changed.invoice) {
    events.push(stripeEvent(changed.invoice.status === 'paid' ? 'invoice.paid' : 'invoice.payment_failed', changed.invoice, changed.at));
  }
  return events;
}

export async function deliverAll(server: TestServer, events: StripeEventPayload[]): Promise<string[]> {
  const outcomes: string[] = [];
  for (const event of events) {
    const answer = await deliver(server, event);
    if (answer.status !== 200) throw new Error(`${event.type} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    outcomes.push(answer.body?.outcome ?? '');
  }
  return outcomes;
}

export interface PeriodGrant {
  key: string;
  amount: number;
  expiresAt: string;
  rollover: number;
  source: string;
}

/** An account's period grants (subscription periods, trials, upgrades, calendar allowances), in posting order. */
export async function periodGrants(server: TestServer, accountId: string): Promise<PeriodGrant[]> {
  const { rows } = await server.sql.query(
    `select t.idempotency_key as key, t.amount, g.expires_at, t.metadata->'allowance' as period
     from credit_transactions t join credit_grants g on g.transaction_id = t.id
     where t.account_id = $1 and t.metadata->'allowance' is not null order by t.posting_seq`,
    [accountId],
  );
  return rows.map((row) => ({
    key: String(row.key),
    amount: Number(row.amount),
    expiresAt: new Date(row.expires_at as string).toISOString(),
    rollover: Number((row.period as { rollover: number }).rollover),
    source: String((row.period as { source?: string }).source ?? 'allowance'),
  }));
}

export const iso = (unixSeconds: unknown) => new Date(Number(unixSeconds) * 1000).toISOString();

export const periodOf = (subscription: Record<string, unknown>) => {
  const item = (subscription.items as { data: { current_period_start: number; current_period_end: number }[] }).data[0]!;
  return { start: item.current_period_start, end: item.current_period_end };
};
