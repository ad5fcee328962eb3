import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { Ledger, type LedgerOptions } from '../credits/ledger.js';
import type { Row } from '../database/rows.js';
import { isStripeError } from './stripe-errors.js';
import { invoiceFacts } from './stripe-objects.js';
import { applyStripeEvent, purchaseOfPayment, stripeIdOf, type EventEffect, type Prefetched } from './stripe-event-effects.js';

export type ProcessedEvent = EventEffect | { outcome: string; duplicate: true };

/**
 * What an event needs from Stripe's API, asked before any database transaction opens: a transaction must never wait
 * on the network while it holds locks.
 */
async function prefetch(event: Stripe.Event, em: EntityManager, stripe: Stripe | undefined): Promise<Prefetched> {
  let paymentIntentId: string | null;
  const prefetched: Prefetched = {};
  if (event.type === 'charge.refunded') {
    paymentIntentId = stripeIdOf(event.data.object.payment_intent);
  } else if (event.type === 'charge.dispute.created' || event.type === 'charge.dispute.closed') {
    const chargeId = stripeIdOf(event.data.object.charge);
    // A charge Stripe does not know (not ours) is no reason to retry; anything else is (the event answers 5xx).
    if (stripe && chargeId) prefetched.disputedCharge = await stripe.charges.retrieve(chargeId).catch((error: unknown) => {
      if (isStripeError(error, 'resource_missing')) return undefined;
      throw error;
    });
    paymentIntentId = stripeIdOf(event.data.object.payment_intent) ?? stripeIdOf(prefetched.disputedCharge?.payment_intent);
  } else if (event.type.startsWith('customer.subscription.')) {
    const subscription = stripeIdOf((event.data.object as { id?: string }).id);
    if (stripe && subscription) prefetched.subscription = await currentSubscription(stripe, subscription);
    return prefetched;
  } else if (event.type === 'invoice.paid' || event.type === 'invoice.payment_failed') {
    const invoice = invoiceFacts(event.data.object as Stripe.Invoice);
    if (stripe && invoice?.subscriptionId) prefetched.subscription = await currentSubscription(stripe, invoice.subscriptionId);
    if (stripe && invoice?.moreLines) {
      prefetched.invoiceLines = await stripe.invoices.listLineItems(invoice.id, { limit: 100 }).autoPagingToArray({ limit: 1_000 });
    }
    return prefetched;
  } else {
    return prefetched;
  }
  if (!paymentIntentId || (await purchaseOfPayment(em, paymentIntentId))) return prefetched;
  if (!stripe) return { ...prefetched, sessionOfPayment: null };
  const sessions = await stripe.checkout.sessions.list({ payment_intent: paymentIntentId, limit: 1 });
  return { ...prefetched, sessionOfPayment: sessions.data[0] };
}

/**
 * A subscription as Stripe has it now, or undefined when Stripe cannot say (not found, unreachable): the event's own
 * object then stands in for it, ordered by the event's time (subscriptions.ts), so no answer here is a reason to retry.
 */
async function currentSubscription(stripe: Stripe, id: string): Promise<Stripe.Subscription | undefined> {
  try {
    return await stripe.subscriptions.retrieve(id);
  } catch {
    return undefined;
  }
}

/**
 * Applies one verified Stripe event exactly once: it runs in one database transaction together with its
 * `stripe_events` row, so either both commit or neither does, and a redelivery of a recorded event changes nothing.
 * Should the row be missing, the effect is still once-only: it is keyed by the session id (row lock and status) and
 * the cumulative refunded amount.
 */
export async function processStripeEvent(
  em: EntityManager,
  event: Stripe.Event,
  deps: { stripe?: Stripe; ledger: LedgerOptions },
): Promise<ProcessedEvent> {
  const [seen] = await em.execute<Row[]>('select outcome from stripe_events where id = ?', [event.id]);
  if (seen) return { outcome: String(seen.outcome), duplicate: true };
  const prefetched = await prefetch(event, em, deps.stripe);
  return em.transactional(async (tx) => {
    const applied = await applyStripeEvent(event, { em: tx, ledger: new Ledger(tx, deps.ledger), prefetched });
    if (applied.record) {
      await tx.execute(
        `insert into stripe_events (id, type, outcome, detail, livemode, processed_at) values (?, ?, ?, ?, ?, now())
         on conflict (id) do nothing`,
        [event.id, event.type, applied.outcome, applied.detail ?? null, event.livemode === true],
      );
    }
    return applied;
  });
}
