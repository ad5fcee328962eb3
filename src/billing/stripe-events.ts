import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { Ledger, type LedgerOptions } from '../credits/ledger.js';
import type { Row } from '../database/rows.js';
import { applyStripeEvent, purchaseOfPayment, stripeIdOf, type EventEffect, type Prefetched } from './stripe-event-effects.js';

export type ProcessedEvent = EventEffect | { outcome: string; duplicate: true };

/**
 * What an event needs from Stripe's API, asked before any database transaction opens: a transaction must never wait
 * on the network while it holds locks.
 */
async function prefetch(event: Stripe.Event, em: EntityManager, stripe: Stripe | undefined): Promise<Prefetched> {
  if (event.type !== 'charge.refunded') return {};
  const paymentIntentId = stripeIdOf(event.data.object.payment_intent);
  if (!paymentIntentId || (await purchaseOfPayment(em, paymentIntentId))) return {};
  if (!stripe) return { sessionOfRefundedPayment: null };
  const sessions = await stripe.checkout.sessions.list({ payment_intent: paymentIntentId, limit: 1 });
  return { sessionOfRefundedPayment: sessions.data[0] };
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
