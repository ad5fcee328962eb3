import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { Row } from '../database/rows.js';
import { SubscriptionStatus as SubscriptionState } from '../accounts/subscription-status.js';
import { SUBSCRIPTION_KEY_PREFIX } from '../credits/idempotency-keys.js';
import type { PeriodSource } from '../credits/period-grants.js';
import { findPlan, planOfPrice, periodCredits, type Plan } from './plan.model.js';
import { effect, rejected, type EventDeps, type EventEffect } from './stripe-event-types.js';
import {
  endsSubscription,
  invoiceFacts,
  invoiceLineFacts,
  PAYING_STATUSES,
  storedStatus,
  subscriptionFacts,
  type InvoiceLineFacts,
  type SubscriptionFacts,
} from './stripe-objects.js';

/**
 * Stripe subscriptions: the subscription sets the account's plan, and each paid period brings the plan's credits.
 *
 * State (`customer.subscription.*`): the subscription's status, period and cancel flag are stored on the account,
 * and its item's Price names the plan. Stripe does not order deliveries, so an older state never overwrites a newer
 * one: when Stripe's API is configured the subscription is fetched (its current state, whatever the event says);
 * otherwise the event's own `created` time orders states of one subscription, and the subscriptions' `created`
 * times order two subscriptions of one account (a newer live one replaces the stored one; an older one's end never
 * touches the account). A status that ends the subscription returns the account to the free plan at once; an
 * upgrade applies at once; a downgrade waits for the next period (`scheduled_plan_tier`).
 *
 * Credits (`invoice.paid`): a paid subscription invoice grants the plan's credits for the period its line covers,
 * as an expiring grant that lapses at the period's end (PeriodGrants), keyed `subscription:<sub>:<period start>`:
 * exactly once per account and period, whatever the redeliveries. An upgrade's proration invoice tops the period up
 * to the new plan's credits (keyed with the plan too). A trial grants on the subscription's first `trialing` state
 * (or its $0 invoice, the same key). `invoice.payment_failed` grants nothing.
 */

/** Statuses of a subscription that still exists in Stripe and is managed there (the portal), not through setPlan. */
export const LIVE_STATUSES: readonly string[] = ['trialing', 'active', 'past_due', 'unpaid'];

/** Invoices that pay for a subscription period (or an upgrade within one). */
const PERIOD_INVOICES = new Set(['subscription_create', 'subscription_cycle', 'subscription_update']);

const AVERAGE_MONTH_MS = 30.436875 * 24 * 3600 * 1000;

/**
 * What a period of a plan brings: its monthly credits for each month the period spans, rounded, at least one (a
 * month's period or a 14-day trial: 1x; a year: 12x).
 */
export function creditsForPeriod(plan: Plan, start: Date, end: Date): number {
  const months = Math.max(1, Math.round((end.getTime() - start.getTime()) / AVERAGE_MONTH_MS));
  return plan.monthlyCredits * months;
}

const unix = (at: Date) => Math.floor(at.getTime() / 1000);

/** A subscription period's grant: `subscription:<sub_id>:<period start>`. */
export const periodKey = (subscriptionId: string, start: Date) => `${SUBSCRIPTION_KEY_PREFIX}${subscriptionId}:${unix(start)}`;

/** An upgrade's top-up within the period ending at `end`: `subscription:<sub_id>:upgrade:<period end>:<plan>`. */
export const upgradeKey = (subscriptionId: string, end: Date, planId: string) => `${SUBSCRIPTION_KEY_PREFIX}${subscriptionId}:upgrade:${unix(end)}:${planId}`;

/** When the subscription's period that ends at `end` began: from its grants, or the account's stored period. */
async function periodStartEndingAt(em: EntityManager, accountId: string, subscriptionId: string, end: Date): Promise<Date | undefined> {
  const [grant] = await em.execute<Row[]>(
    `select t.metadata->'allowance'->>'start' as start from credit_grants g join credit_transactions t on t.id = g.transaction_id and t.account_id = g.account_id
     where g.account_id = ? and g.expires_at = ? and t.metadata->'allowance'->>'subscriptionId' = ? and t.metadata->'allowance'->>'start' is not null
     order by t.posting_seq limit 1`,
    [accountId, end, subscriptionId],
  );
  if (grant?.start) return new Date(String(grant.start));
  const [stored] = await em.execute<Row[]>(
    'select current_period_start from accounts where id = ? and stripe_subscription_id = ? and current_period_end = ?',
    [accountId, subscriptionId, end],
  );
  return stored?.current_period_start ? new Date(stored.current_period_start as string) : undefined;
}

const periodLabel = (start: Date, end: Date) => `${start.toISOString()}/${end.toISOString()}`;

interface AccountHint {
  subscriptionId?: string;
  accountId?: string;
  customerId?: string;
}

/** The account a Stripe object is about: by its subscription, the accountId the API put in its metadata, or its customer. */
async function accountFor(em: EntityManager, hint: AccountHint): Promise<string | undefined> {
  const live = `select a.id from accounts a left join users u on u.id = a.id where u.deleted_at is null and`;
  if (hint.subscriptionId) {
    const [row] = await em.execute<Row[]>(`${live} a.stripe_subscription_id = ?`, [hint.subscriptionId]);
    if (row) return String(row.id);
  }
  if (hint.accountId) {
    const [row] = await em.execute<Row[]>(`${live} a.id = ? and (a.stripe_customer_id is null or a.stripe_customer_id = ? or ?::text is null)`, [
      hint.accountId,
      hint.customerId ?? null,
      hint.customerId ?? null,
    ]);
    if (row) return String(row.id);
  }
  if (hint.customerId) {
    const [row] = await em.execute<Row[]>(`${live} a.stripe_customer_id = ? order by a.created_at limit 1`, [hint.customerId]);
    if (row) return String(row.id);
  }
  return undefined;
}

interface StoredSubscription {
  planTier: string;
  scheduledPlanTier: string | null;
  subscriptionId: string | null;
  status: string | null;
  periodStart: Date | null;
  periodEnd: Date | null;
  createdAt: Date | null;
  eventAt: Date | null;
}

const date = (value: unknown) => (value === null || value === undefined ? null : new Date(value as string | Date));

async function lockStored(em: EntityManager, accountId: string): Promise<StoredSubscription> {
  const [row] = await em.execute<Row[]>(
    `select plan_tier, scheduled_plan_tier, stripe_subscription_id, subscription_status, current_period_start, current_period_end,
       subscription_created_at, subscription_event_at
     from accounts where id = ? for no key update`,
    [accountId],
  );
  return {
    planTier: String(row!.plan_tier),
    scheduledPlanTier: row!.scheduled_plan_tier === null ? null : String(row!.scheduled_plan_tier),
    subscriptionId: row!.stripe_subscription_id === null ? null : String(row!.stripe_subscription_id),
    status: row!.subscription_status === null ? null : String(row!.subscription_status),
    periodStart: date(row!.current_period_start),
    periodEnd: date(row!.current_period_end),
    createdAt: date(row!.subscription_created_at),
    eventAt: date(row!.subscription_event_at),
  };
}

interface SyncOptions {
  /** When the event was created (Stripe's clock): orders states of one subscription when not fetched. */
  asOf: Date;
  /** The state was fetched from Stripe just now: it is the newest there is. */
  fetched: boolean;
  eventId: string;
}

/** Stores a subscription's state on its account and moves the plan, under the account's row lock. */
async function syncSubscription(deps: EventDeps, accountId: string, facts: SubscriptionFacts, options: SyncOptions): Promise<EventEffect> {
  const { em } = deps;
  const stored = await lockStored(em, accountId);
  const other = stored.subscriptionId !== null && stored.subscriptionId !== facts.id;
  if (other) {
    if (endsSubscription(facts.status)) return effect('ignored', `${facts.id} is ${facts.status}; the account's subscription is ${stored.subscriptionId}`);
    const storedLive = stored.status !== null && LIVE_STATUSES.includes(stored.status);
    if (storedLive && stored.createdAt && facts.created <= stored.createdAt) {
      return effect('ignored', `${facts.id} is older than the account's live subscription ${stored.subscriptionId}`, 'warn');
    }
  } else if (!options.fetched && stored.eventAt && options.asOf < stored.eventAt) {
    return effect('stale', `a newer state of ${facts.id} was applied already`);
  } else if (!options.fetched && stored.eventAt && options.asOf.getTime() === stored.eventAt.getTime() && stored.status !== null) {
    // Stripe stamps events to the second, so two states of one second cannot be ordered by time. A subscription is
    // incomplete only at its start, so an incomplete state never replaces another one of the same second (it would
    // undo the activation that followed it); any other pair goes by arrival, as Stripe's own moves go both ways.
    if (facts.status === 'incomplete' && stored.status !== SubscriptionState.INCOMPLETE) {
      return effect('stale', `${facts.id} was ${stored.status} in the same second; incomplete comes only before that`);
    }
  }
  const status = storedStatus(facts.status);
  if (!status) return effect('ignored', `${facts.id} has status ${facts.status}, which Tally does not know`, 'warn');

  let target: string | undefined;
  let scheduled = stored.scheduledPlanTier;
  let note = '';
  if (endsSubscription(facts.status)) {
    target = 'free';
    scheduled = null;
  } else if (PAYING_STATUSES.includes(status)) {
    const plan = facts.priceId ? await planOfPrice(em, facts.priceId) : undefined;
    if (!plan) {
      note = `; price ${facts.priceId ?? '(none)'} is no plan's (set PLAN_PRICES), plan unchanged`;
    } else {
      const samePeriod = !other && stored.periodEnd !== null && facts.periodStart !== undefined && facts.periodStart < stored.periodEnd;
      const current = await findPlan(em, stored.planTier);
      if (samePeriod && current && plan.monthlyCredits < current.monthlyCredits) {
        scheduled = plan.id === stored.planTier ? null : plan.id;
      } else {
        target = plan.id;
        scheduled = null;
      }
    }
  }
  await em.execute(
    `update accounts set stripe_subscription_id = ?, subscription_status = ?, current_period_start = ?, current_period_end = ?,
       cancel_at_period_end = ?, subscription_created_at = ?, scheduled_plan_tier = ?,
       subscription_event_at = greatest(coalesce(subscription_event_at, ?::timestamptz), ?::timestamptz), updated_at = now()
     where id = ?`,
    [
      facts.id,
      status,
      facts.periodStart ?? null,
      facts.periodEnd ?? null,
      facts.cancelAtPeriodEnd,
      facts.created,
      scheduled,
      options.asOf,
      options.asOf,
      accountId,
    ],
  );
  if (target) {
    await deps.ledger.changePlan(em, {
      accountId,
      planId: target,
      actorId: null,
      reason: `Stripe subscription ${facts.id} is ${facts.status}`,
      metadata: { stripeSubscriptionId: facts.id, stripeEventId: options.eventId, subscriptionStatus: facts.status },
    });
  }
  const plan = target ?? stored.planTier;
  const later = scheduled ? `, ${scheduled} from ${facts.periodEnd?.toISOString() ?? 'the next period'}` : '';
  return effect('subscription-synced', `${accountId}: ${facts.id} ${status}, plan ${plan}${later}${note}`, note ? 'warn' : 'info');
}

/** A period's grant for `plan` (the base of a period, its trial, or an upgrade's top-up). */
async function grantPeriod(
  deps: EventDeps,
  accountId: string,
  grant: { subscriptionId: string; plan: Plan; start: Date; end: Date; key: string; source: PeriodSource; details: Record<string, string> },
): Promise<string> {
  const outcome = await deps.ledger.periods.grant({
    accountId,
    key: grant.key,
    plan: grant.plan.id,
    credits: creditsForPeriod(grant.plan, grant.start, grant.end),
    start: grant.start,
    end: grant.end,
    rolloverCap: grant.plan.rolloverCap ?? 0,
    subscriptionId: grant.subscriptionId,
    label: periodLabel(grant.start, grant.end),
    source: grant.source,
    details: grant.details,
  });
  if (outcome.outcome !== 'granted') return outcome.outcome;
  return `granted ${outcome.transaction.amount} (${outcome.rollover} rolled over) as ${outcome.transaction.id}`;
}

/** A trial grants its plan's credits for the trial period once, on the first state that shows it (or its $0 invoice). */
async function grantTrial(deps: EventDeps, accountId: string, facts: SubscriptionFacts, eventId: string): Promise<string | undefined> {
  if (facts.status !== 'trialing' || !facts.trialStart || !facts.trialEnd || !facts.priceId) return undefined;
  const plan = await planOfPrice(deps.em, facts.priceId);
  if (!plan) return undefined;
  return grantPeriod(deps, accountId, {
    subscriptionId: facts.id,
    plan,
    start: facts.trialStart,
    end: facts.trialEnd,
    key: periodKey(facts.id, facts.trialStart),
    source: 'trial',
    details: { stripeEventId: eventId },
  });
}

/** `customer.subscription.created`, `updated`, `deleted`, `paused` and `resumed`. */
export async function applySubscriptionEvent(event: Stripe.Event, deps: EventDeps): Promise<EventEffect> {
  const payload = subscriptionFacts(event.data.object as Stripe.Subscription);
  if (!payload) return rejected('malformed', `${event.type} ${event.id} carries no subscription id, status or created time`);
  const fetched = deps.prefetched.subscription ? subscriptionFacts(deps.prefetched.subscription) : undefined;
  const facts = fetched ?? payload;
  const accountId = await accountFor(deps.em, { subscriptionId: facts.id, accountId: facts.accountId, customerId: facts.customerId });
  if (!accountId) return rejected('unknown-account', `subscription ${facts.id} names no account (metadata.accountId) and its customer ${facts.customerId ?? '(none)'} is no account's`);
  const synced = await syncSubscription(deps, accountId, facts, { asOf: new Date(event.created * 1000), fetched: fetched !== undefined, eventId: event.id });
  const trial = (await grantTrial(deps, accountId, payload, event.id)) ?? (fetched ? await grantTrial(deps, accountId, fetched, event.id) : undefined);
  return trial ? { ...synced, detail: `${synced.detail ?? ''}; trial: ${trial}` } : synced;
}

/** The line an invoice pays a period with, and its plan: the best plan among the lines that count. */
async function periodLine(em: EntityManager, lines: InvoiceLineFacts[], upgrade: boolean): Promise<{ line: InvoiceLineFacts; plan: Plan } | undefined> {
  let best: { line: InvoiceLineFacts; plan: Plan } | undefined;
  for (const line of lines) {
    if (!line.priceId || !line.periodStart || !line.periodEnd) continue;
    if (upgrade ? !(line.proration && line.amount > 0) : line.proration) continue;
    const plan = await planOfPrice(em, line.priceId);
    if (plan && (!best || periodCredits(plan) > periodCredits(best.plan))) best = { line, plan };
  }
  return best;
}

/** `invoice.paid`: a subscription period's credits (or an upgrade's), exactly once per account and period. */
export async function applyInvoicePaid(event: Stripe.Event, deps: EventDeps): Promise<EventEffect> {
  const invoice = invoiceFacts(event.data.object as Stripe.Invoice);
  if (!invoice) return rejected('malformed', `invoice.paid ${event.id} carries no invoice id`);
  if (!invoice.billingReason || !PERIOD_INVOICES.has(invoice.billingReason)) return effect('ignored', `invoice ${invoice.id}: ${invoice.billingReason ?? 'no billing reason'}`);
  if (!invoice.subscriptionId) return effect('ignored', `invoice ${invoice.id} belongs to no subscription`);
  const lines = deps.prefetched.invoiceLines?.map(invoiceLineFacts) ?? invoice.lines;
  const fetched = deps.prefetched.subscription ? subscriptionFacts(deps.prefetched.subscription) : undefined;
  const accountId = await accountFor(deps.em, {
    subscriptionId: invoice.subscriptionId,
    accountId: invoice.accountId ?? fetched?.accountId,
    customerId: invoice.customerId,
  });
  if (!accountId) return rejected('unknown-account', `invoice ${invoice.id} of ${invoice.subscriptionId} names no account and its customer is no account's`);
  const synced = fetched ? await syncSubscription(deps, accountId, fetched, { asOf: new Date(event.created * 1000), fetched: true, eventId: event.id }) : undefined;

  // A change of plan bills a top-up of the current period as prorations. A change that restarts the period (another
  // billing interval: monthly to yearly, or billing_cycle_anchor=now) also bills the new period as a line of its own,
  // not a proration: that invoice pays a period, as a renewal's does.
  const restarted = invoice.billingReason === 'subscription_update' ? await periodLine(deps.em, lines, false) : undefined;
  const newPeriod = restarted && restarted.line.amount > 0 ? restarted : undefined;
  const upgrade = invoice.billingReason === 'subscription_update' && !newPeriod;
  const found = newPeriod ?? (await periodLine(deps.em, lines, upgrade));
  if (!found) {
    if (upgrade) return effect('nothing-to-grant', `invoice ${invoice.id}: no positive proration for a plan (a downgrade, or a change of quantity)`);
    return rejected('unknown-price', `invoice ${invoice.id} has no line whose price is a plan's (set PLAN_PRICES)`);
  }
  const { line, plan } = found;
  const end = line.periodEnd!;
  let start = line.periodStart!;
  let key = periodKey(invoice.subscriptionId, start);
  if (upgrade) {
    // The top-up belongs to the period the change happened in, which ends when this line does; it is keyed by that
    // end (the one date every copy of the invoice agrees on) and starts when the period did, as far as we know it.
    start = (await periodStartEndingAt(deps.em, accountId, invoice.subscriptionId, end)) ?? start;
    key = upgradeKey(invoice.subscriptionId, end, plan.id);
  }
  const source: PeriodSource = upgrade ? 'upgrade' : invoice.billingReason === 'subscription_create' && line.amount === 0 ? 'trial' : 'subscription';
  const granted = await grantPeriod(deps, accountId, {
    subscriptionId: invoice.subscriptionId,
    plan,
    start,
    end,
    key,
    source,
    details: { stripeInvoiceId: invoice.id, stripeEventId: event.id },
  });
  return effect('period-credits', `${accountId}: invoice ${invoice.id} (${invoice.billingReason}, ${plan.id}) ${granted}${synced ? `; ${synced.detail ?? ''}` : ''}`);
}

/** `invoice.payment_failed`: the subscription is PAST_DUE (Stripe retries); nothing is granted, nothing taken back. */
export async function applyInvoicePaymentFailed(event: Stripe.Event, deps: EventDeps): Promise<EventEffect> {
  const invoice = invoiceFacts(event.data.object as Stripe.Invoice);
  if (!invoice) return rejected('malformed', `invoice.payment_failed ${event.id} carries no invoice id`);
  if (!invoice.subscriptionId) return effect('ignored', `invoice ${invoice.id} belongs to no subscription`);
  const fetched = deps.prefetched.subscription ? subscriptionFacts(deps.prefetched.subscription) : undefined;
  const accountId = await accountFor(deps.em, { subscriptionId: invoice.subscriptionId, accountId: invoice.accountId, customerId: invoice.customerId });
  if (!accountId) return rejected('unknown-account', `invoice ${invoice.id} of ${invoice.subscriptionId} names no account and its customer is no account's`);
  if (fetched) {
    const synced = await syncSubscription(deps, accountId, fetched, { asOf: new Date(event.created * 1000), fetched: true, eventId: event.id });
    return effect('payment-failed', `invoice ${invoice.id}; ${synced.detail ?? ''}`, 'warn');
  }
  const asOf = new Date(event.created * 1000);
  const moved = await deps.em.execute<Row[]>(
    `update accounts set subscription_status = 'past_due', subscription_event_at = greatest(coalesce(subscription_event_at, ?::timestamptz), ?::timestamptz), updated_at = now()
     where id = ? and stripe_subscription_id = ? and subscription_status in ('trialing', 'active')
       and (subscription_event_at is null or subscription_event_at <= ?) returning id`,
    [asOf, asOf, accountId, invoice.subscriptionId, asOf],
  );
  return effect('payment-failed', `invoice ${invoice.id} of ${invoice.subscriptionId}${moved.length > 0 ? ': PAST_DUE' : ''}`, 'warn');
}
