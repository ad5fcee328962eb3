import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { PurchaseOutcome } from '../credits/ledger.js';
import { attemptOfIntent, rechargeFailed, rechargeSucceeded, rememberSavedCard } from './auto-recharge.js';
import { findPack, purchaseDescription } from './credit-pack.model.js';
import { effect, rejected, type EventDeps, type EventEffect } from './stripe-event-types.js';
import { applyInvoicePaid, applyInvoicePaymentFailed, applySubscriptionEvent } from './subscriptions.js';

export type { EventDeps, EventEffect, Prefetched } from './stripe-event-types.js';

export const stripeIdOf = (value: string | { id: string } | null | undefined): string | null =>
  typeof value === 'string' ? value : typeof value?.id === 'string' ? value.id : null;

/** The event types applyStripeEvent acts on; every other type is recorded as ignored. */
export const APPLIED_EVENT_TYPES: ReadonlySet<string> = new Set([
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
  'charge.refunded',
  'charge.dispute.created',
  'charge.dispute.closed',
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'customer.subscription.paused',
  'customer.subscription.resumed',
  'invoice.paid',
  'invoice.payment_failed',
  'payment_intent.succeeded',
  'payment_intent.payment_failed',
]);

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
    case 'charge.dispute.created':
    case 'charge.dispute.closed':
      return applyDispute(event.data.object, event.id, deps);
    case 'customer.subscription.created':
    case 'customer.subscription.updated':
    case 'customer.subscription.deleted':
    case 'customer.subscription.paused':
    case 'customer.subscription.resumed':
      return applySubscriptionEvent(event, deps);
    case 'invoice.paid':
      return applyInvoicePaid(event, deps);
    case 'invoice.payment_failed':
      return applyInvoicePaymentFailed(event, deps);
    case 'payment_intent.succeeded':
      return paymentSucceeded(event.data.object, deps);
    case 'payment_intent.payment_failed':
      return paymentFailed(event.data.object, deps);
    default:
      return effect('ignored');
  }
}

/**
 * A PaymentIntent succeeded: an auto-recharge's credits, once (auto-recharge.ts); or a Checkout payment that saved
 * its card for off-session use, which auto-recharge will charge.
 */
async function paymentSucceeded(intent: Stripe.PaymentIntent, deps: EventDeps): Promise<EventEffect> {
  const attemptId = await attemptOfIntent(deps.em, intent);
  if (attemptId) {
    const outcome = await rechargeSucceeded(deps.em, deps.ledger, attemptId, intent);
    return effect(outcome === 'credited' ? 'recharged' : outcome === 'already-credited' ? 'already-recharged' : outcome, `${attemptId} (${intent.id})`);
  }
  if (intent.metadata?.kind === 'auto_recharge') return rejected('unknown-attempt', `payment ${intent.id} names auto-recharge ${intent.metadata.autoRechargeAttemptId ?? '(none)'}, which does not exist`);
  return (await rememberSavedCard(deps.em, intent)) ? effect('card-saved', intent.id) : effect('ignored', intent.id);
}

/** A PaymentIntent failed: an auto-recharge's attempt fails, with Stripe's reason. Nothing else is affected. */
async function paymentFailed(intent: Stripe.PaymentIntent, deps: EventDeps): Promise<EventEffect> {
  const attemptId = await attemptOfIntent(deps.em, intent);
  if (!attemptId) return effect('ignored', intent.id);
  const problem = intent.last_payment_error;
  const reason = [problem?.code ?? intent.status, problem?.decline_code].filter(Boolean).join(': ');
  const outcome = await rechargeFailed(deps.em, attemptId, reason, intent.id);
  return effect(outcome === 'already-resolved' ? 'already-resolved' : 'recharge-failed', `${attemptId}: ${reason}`, 'warn');
}

async function creditSession(session: Stripe.Checkout.Session, deps: EventDeps): Promise<EventEffect> {
  const sessionId = stripeIdOf(session);
  if (!sessionId) return rejected('malformed', 'checkout session without an id');
  if (session.mode && session.mode !== 'payment') return effect('ignored', `${session.mode} session ${sessionId}`);
  const paymentIntentId = stripeIdOf(session.payment_intent);
  const payment = typeof session.amount_total === 'number' ? { amountPaid: session.amount_total, currency: session.currency ?? null } : null;
  let result = await deps.ledger.purchases.complete(sessionId, paymentIntentId, payment);
  if (result.outcome === 'unknown-session') {
    // Sessions made outside the API name their account: accountId (either kind), or organizationId, or userId.
    const accountId = session.metadata?.accountId ?? session.metadata?.organizationId ?? session.metadata?.userId;
    const packId = session.metadata?.packId;
    if (!accountId || !packId) return rejected('unknown-session', `session ${sessionId} has no PENDING row and no accountId (or userId)/packId metadata`);
    const accounts = await deps.em.execute<{ id: string }[]>(
      'select a.id from accounts a left join users u on u.id = a.id where a.id = ? and u.deleted_at is null',
      [accountId],
    );
    if (accounts.length === 0) return rejected('unknown-account', `session ${sessionId} names account ${accountId}, which does not exist`);
    const pack = await findPack(deps.em, packId);
    if (!pack) return rejected('unknown-pack', `session ${sessionId} names pack ${packId}, which does not exist`);
    result = await deps.ledger.purchases.completeUnrecorded({
      accountId,
      actorId: null,
      credits: pack.credits,
      description: purchaseDescription(pack),
      stripeSessionId: sessionId,
      paymentIntentId,
      payment,
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
  const found = await purchaseForPayment(paymentIntentId, deps);
  if ('effect' in found) return found.effect;
  const { purchase, creditedFirst } = found;
  const result = await deps.ledger.purchases.reverse({
    purchase: { id: purchase.id },
    source: { kind: 'refund', cumulativeCredits: Math.floor((purchase.amount * Math.min(refunded, amount)) / amount) },
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

interface PaidPurchase {
  id: string;
  amount: number;
  metadata: Record<string, unknown> | null;
}

/**
 * The completed purchase a refund or dispute is about. When its session's own event has not arrived yet, a charge
 * that was refunded or disputed had been paid, so the session is credited now, exactly as its event would credit it
 * (that event then finds the purchase COMPLETED), and the reversal follows: the credits never outlive the money.
 * Without Stripe's API to ask, the event is answered with a retry instead, until the purchase completes.
 */
async function purchaseForPayment(
  paymentIntentId: string,
  deps: EventDeps,
): Promise<{ purchase: PaidPurchase; creditedFirst?: EventEffect } | { effect: EventEffect }> {
  let purchase = await purchaseOfPayment(deps.em, paymentIntentId);
  if (purchase) return { purchase };
  const session = deps.prefetched.sessionOfPayment;
  if (session === null) {
    return { effect: { outcome: 'awaiting-purchase', detail: `no purchase has payment intent ${paymentIntentId} yet`, level: 'warn', record: false, retry: true } };
  }
  let creditedFirst: EventEffect | undefined;
  if (session?.payment_status === 'paid') {
    creditedFirst = await creditSession(session, deps);
    purchase = await purchaseOfPayment(deps.em, paymentIntentId);
  }
  if (purchase) return { purchase, creditedFirst };
  const about = creditedFirst ? ` (its session: ${creditedFirst.outcome}${creditedFirst.detail ? `, ${creditedFirst.detail}` : ''})` : '';
  const unknown = rejected('unknown-payment', `no completed purchase has payment intent ${paymentIntentId}${about}`);
  // A session that could not be credited for a reason a person must settle (paid after FAILED) stays that loud.
  return { effect: creditedFirst?.level === 'error' ? { ...unknown, level: 'error' } : unknown };
}

/**
 * A dispute (chargeback) takes back the disputed share of the pack, cumulative with refunds of the same payment and
 * clamped like them; closed as won, it gives back what it took; closed as lost, nothing more happens. The dispute's
 * state (stripe_disputes) makes each event exactly-once in any order: a `created` arriving after a win takes
 * nothing, a loss arriving first takes the share then.
 */
async function applyDispute(dispute: Stripe.Dispute, eventId: string, deps: EventDeps): Promise<EventEffect> {
  const paymentIntentId = stripeIdOf(dispute.payment_intent) ?? stripeIdOf(deps.prefetched.disputedCharge?.payment_intent);
  if (!paymentIntentId) return rejected('malformed', `dispute ${dispute.id} names no payment intent`);
  if (!Number.isInteger(dispute.amount) || dispute.amount < 0) return rejected('malformed', `dispute ${dispute.id} has amount ${dispute.amount}`);
  const found = await purchaseForPayment(paymentIntentId, deps);
  if ('effect' in found) return found.effect;
  const { purchase } = found;
  const closedAs = dispute.status === 'won' || dispute.status === 'warning_closed' ? 'won' : dispute.status === 'lost' ? 'lost' : 'open';
  const [state] = await deps.em.execute<{ status: string }[]>(
    `insert into stripe_disputes (id, purchase_id, status, amount, created_at, updated_at) values (?, ?, ?, ?, now(), now())
     on conflict (id) do update set status = case when stripe_disputes.status = 'open' then excluded.status else stripe_disputes.status end,
       amount = excluded.amount, updated_at = now()
     returning status`,
    [dispute.id, purchase.id, closedAs, dispute.amount],
  );
  const metadata = { stripeDisputeId: dispute.id, stripeEventId: eventId, disputeStatus: dispute.status, disputedAmount: dispute.amount };
  if (state!.status === 'won') {
    const result = await deps.ledger.purchases.giveBackDispute({
      purchase: { id: purchase.id },
      disputeId: dispute.id,
      reason: `Dispute ${dispute.id} won: disputed credits given back`,
      metadata,
    });
    return result.outcome === 'given-back'
      ? effect('dispute-won', `${result.transaction!.id}: +${result.transaction!.amount} credits`)
      : effect('dispute-won', `nothing had been taken for ${dispute.id}`);
  }
  const chargeAmount = deps.prefetched.disputedCharge?.amount ?? paidAmountOf(purchase);
  const share = chargeAmount && chargeAmount > 0 ? Math.floor((purchase.amount * Math.min(dispute.amount, chargeAmount)) / chargeAmount) : purchase.amount;
  const result = await deps.ledger.purchases.reverse({
    purchase: { id: purchase.id },
    source: { kind: 'dispute', disputeId: dispute.id, credits: share },
    reason: `Payment disputed (${dispute.reason ?? 'chargeback'}): ${share} credit${share === 1 ? '' : 's'} held back`,
    metadata,
  });
  const row = result.transaction;
  if (result.outcome === 'reversed') return effect('disputed', `${row!.id}: ${row!.amount} credits, ${String(row!.metadata?.unrecoveredCredits ?? 0)} unrecovered`);
  if (result.outcome === 'already-reversed') return effect(state!.status === 'lost' ? 'dispute-lost' : 'already-disputed', purchase.id);
  return effect(result.outcome, purchase.id, 'warn');
}

/** What the buyer paid for a purchase, as recorded when it completed (or priced when Checkout started). */
function paidAmountOf(purchase: PaidPurchase): number | undefined {
  const metadata = purchase.metadata ?? {};
  for (const key of ['amountPaid', 'amountTotal', 'priceCents']) {
    const value = metadata[key];
    if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  }
  return undefined;
}

/** The purchase a payment intent paid for (set on the row when its session completed). */
export async function purchaseOfPayment(em: EntityManager, paymentIntentId: string): Promise<PaidPurchase | undefined> {
  const [purchase] = await em.execute<PaidPurchase[]>(
    `select id, amount, metadata from credit_transactions where stripe_payment_intent_id = ? and type = 'purchase' order by posting_seq limit 1`,
    [paymentIntentId],
  );
  return purchase;
}
