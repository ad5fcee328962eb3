import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { Ledger, PurchaseOutcome } from '../credits/ledger.js';
import { findPack, purchaseDescription } from './credit-pack.model.js';

/** What one webhook event did, for the `stripe_events` row and the log line. */
export interface EventEffect {
  outcome: string;
  detail?: string;
  level: 'info' | 'warn' | 'error';
  /**
   * False for permanent rejections (unknown user, pack or payment; a malformed object): nothing is written, so that
   * once an operator fixes the cause, "Resend" in the Stripe dashboard applies the event.
   */
  record: boolean;
  /**
   * True when the event cannot be applied yet but will be later (a refund whose purchase has not completed, with no
   * Stripe API to ask): nothing is written and the answer is a 5xx, so Stripe delivers it again.
   */
  retry?: boolean;
}

export interface EventDeps {
  em: EntityManager;
  ledger: Ledger;
  /** What was asked of Stripe before the transaction began (see prefetch in stripe-events.ts). */
  prefetched: Prefetched;
}

export interface Prefetched {
  /**
   * The Checkout Session that created a refunded payment, when no purchase of ours has that payment yet (a refund's
   * notice arriving before its session's `checkout.session.completed`: Stripe does not order deliveries). Undefined
   * when there was nothing to ask; null when Stripe's API is not configured, so it could not be asked.
   */
  sessionOfRefundedPayment?: Stripe.Checkout.Session | null;
}

const effect = (outcome: string, detail?: string, level: EventEffect['level'] = 'info'): EventEffect => ({ outcome, detail, level, record: true });
const rejected = (outcome: string, detail: string): EventEffect => ({ outcome, detail, level: 'warn', record: false });

export const stripeIdOf = (value: string | { id: string } | null | undefined): string | null =>
  typeof value === 'string' ? value : typeof value?.id === 'string' ? value.id : null;

/** Applies one verified event to the ledger, following the contract's table; every effect is keyed by business ids. */
export async function applyStripeEvent(event: Stripe.Event, deps: EventDeps): Promise<EventEffect> {
  switch (event.type) {
    case 'checkout.session.completed':
      if (event.data.object.payment_status === 'unpaid') return effect('awaiting-payment', event.data.object.id);
      return creditSession(event.data.object, deps);
    case 'checkout.session.async_payment_succeeded':
      return creditSession(event.data.object, deps);
    case 'checkout.session.async_payment_failed':
      return failSession(event.data.object, 'async_payment_failed', deps);
    case 'checkout.session.expired':
      return failSession(event.data.object, 'expired', deps);
    case 'charge.refunded':
      return reverseRefundedCharge(event.data.object, event.id, deps);
    default:
      return effect('ignored');
  }
}

async function creditSession(session: Stripe.Checkout.Session, deps: EventDeps): Promise<EventEffect> {
  const sessionId = stripeIdOf(session);
  if (!sessionId) return rejected('malformed', 'checkout session without an id');
  if (session.mode && session.mode !== 'payment') return effect('ignored', `${session.mode} session ${sessionId}`);
  const paymentIntentId = stripeIdOf(session.payment_intent);
  let result = await deps.ledger.purchases.complete(sessionId, paymentIntentId);
  if (result.outcome === 'unknown-session') {
    const userId = session.metadata?.userId;
    const packId = session.metadata?.packId;
    if (!userId || !packId) return rejected('unknown-session', `session ${sessionId} has no PENDING row and no userId/packId metadata`);
    const users = await deps.em.execute<{ id: string }[]>('select id from users where id = ? and deleted_at is null', [userId]);
    if (users.length === 0) return rejected('unknown-user', `session ${sessionId} names user ${userId}, who does not exist`);
    const pack = await findPack(deps.em, packId);
    if (!pack) return rejected('unknown-pack', `session ${sessionId} names pack ${packId}, which does not exist`);
    result = await deps.ledger.purchases.completeUnrecorded({
      userId,
      credits: pack.credits,
      description: purchaseDescription(pack),
      stripeSessionId: sessionId,
      paymentIntentId,
      metadata: { packId: pack.id, source: 'stripe-metadata', amountTotal: session.amount_total, currency: session.currency },
    });
  }
  return purchaseEffect(result, sessionId);
}

function purchaseEffect(result: PurchaseOutcome, sessionId: string): EventEffect {
  const row = result.transaction;
  switch (result.outcome) {
    case 'completed':
      return effect('credited', `${row!.id}: +${row!.amount}, balance ${row!.balanceAfter}`);
    case 'already-completed':
      return effect('already-credited', row!.id);
    case 'completed-after-failed':
      // Money arrived for a purchase we had written off: the row cannot move from FAILED, so a person decides.
      return effect('paid-after-failed', `purchase ${row!.id} is FAILED but Stripe reports session ${sessionId} paid: grant or refund by hand`, 'error');
    default:
      return effect(result.outcome, row?.id ?? sessionId, 'warn');
  }
}

async function failSession(session: Stripe.Checkout.Session, reason: string, deps: EventDeps): Promise<EventEffect> {
  const sessionId = stripeIdOf(session);
  if (!sessionId) return rejected('malformed', 'checkout session without an id');
  const result = await deps.ledger.purchases.fail(sessionId, reason);
  const row = result.transaction;
  return effect(result.outcome === 'failed' ? 'failed' : result.outcome, row?.id ?? sessionId);
}

/**
 * Partial refunds are cumulative: the charge says how much has been refunded in total, and the ledger reverses up to
 * that share of the pack's credits, so a repeated or reordered notice never reverses twice.
 */
async function reverseRefundedCharge(charge: Stripe.Charge, eventId: string, deps: EventDeps): Promise<EventEffect> {
  const paymentIntentId = stripeIdOf(charge.payment_intent);
  if (!paymentIntentId) return effect('ignored', `charge ${charge.id} has no payment intent`);
  const { amount, amount_refunded: refunded } = charge;
  if (!Number.isInteger(amount) || amount <= 0 || !Number.isInteger(refunded) || refunded < 0) {
    return rejected('malformed', `charge ${charge.id} has amount ${amount} and amount_refunded ${refunded}`);
  }
  let purchase = await purchaseOfPayment(deps.em, paymentIntentId);
  let creditedFirst: EventEffect | undefined;
  if (!purchase) {
    // The refund's notice came first while the session's own event is still on its way (or retrying). A charge that
    // was refunded had been paid, so the session is credited now, exactly as its event would credit it (that event
    // then finds the purchase COMPLETED), and the refund is reversed from it: the credits never outlive the money.
    const session = deps.prefetched.sessionOfRefundedPayment;
    if (session === null) {
      return { outcome: 'awaiting-purchase', detail: `no purchase has payment intent ${paymentIntentId} yet`, level: 'warn', record: false, retry: true };
    }
    if (session?.payment_status === 'paid') {
      creditedFirst = await creditSession(session, deps);
      purchase = await purchaseOfPayment(deps.em, paymentIntentId);
    }
  }
  if (!purchase) {
    const session = creditedFirst ? ` (its session: ${creditedFirst.outcome}${creditedFirst.detail ? `, ${creditedFirst.detail}` : ''})` : '';
    const unknown = rejected('unknown-payment', `no completed purchase has payment intent ${paymentIntentId}${session}`);
    // A session that could not be credited for a reason a person must settle (paid after FAILED) stays that loud.
    return creditedFirst?.level === 'error' ? { ...unknown, level: 'error' } : unknown;
  }
  const result = await deps.ledger.purchases.reverse({
    purchase: { id: purchase.id },
    cumulativeCredits: Math.floor((purchase.amount * Math.min(refunded, amount)) / amount),
    reason: refunded >= amount ? 'Payment refunded' : 'Payment partially refunded',
    metadata: { stripeChargeId: charge.id, stripeEventId: eventId, amountRefunded: refunded, chargeAmount: amount },
  });
  const row = result.transaction;
  switch (result.outcome) {
    case 'reversed': {
      const late = creditedFirst ? `; purchase credited first (${creditedFirst.outcome}: ${creditedFirst.detail ?? ''})` : '';
      return effect('refunded', `${row!.id}: ${row!.amount} credits, ${String(row!.metadata?.unrecoveredCredits ?? 0)} unrecovered${late}`);
    }
    case 'already-reversed':
      return effect('already-refunded', purchase.id);
    default:
      return effect(result.outcome, purchase.id, 'warn');
  }
}

/** The purchase a payment intent paid for (set on the row when its session completed). */
export async function purchaseOfPayment(em: EntityManager, paymentIntentId: string): Promise<{ id: string; amount: number } | undefined> {
  const [purchase] = await em.execute<{ id: string; amount: number }[]>(
    `select id, amount from credit_transactions where stripe_payment_intent_id = ? and type = 'purchase' order by posting_seq limit 1`,
    [paymentIntentId],
  );
  return purchase;
}
