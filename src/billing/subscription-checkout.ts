import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import { badUserInput, billingNotConfigured, notFound, paymentProviderError, subscriptionIsLive } from '../core/errors.js';
import type { Row } from '../database/rows.js';
import type { CheckoutDeps } from './checkout.js';
import { redirectUrl } from './checkout.js';
import type { CheckoutSession } from './checkout-session.js';
import { findPlan } from './plan.model.js';
import { stripeCustomerFor } from './stripe-customer.js';
import { stripeFailure } from './stripe-errors.js';
import { LIVE_STATUSES } from './subscriptions.js';

export interface SubscriptionCheckoutRequest {
  planId: string;
  /** The account subscribed: the buyer's own, or an organization they manage. */
  accountId: string;
  successUrl?: string | null;
  cancelUrl?: string | null;
}

/** The account's live subscription status (trialing, active, past due, unpaid), if it has one. */
export async function liveSubscriptionOf(deps: Pick<CheckoutDeps, 'em'>, accountId: string): Promise<string | undefined> {
  const [row] = await deps.em.execute<Row[]>('select subscription_status from accounts where id = ?', [accountId]);
  const status = row?.subscription_status == null ? undefined : String(row.subscription_status);
  return status && LIVE_STATUSES.includes(status) ? status : undefined;
}

/**
 * A Checkout Session in subscription mode for a plan's recurring Price, on the account's Stripe customer (created
 * once and reused). Nothing is written here: the subscription's own events set the plan, and its paid invoices bring
 * the credits (subscriptions.ts). The subscription carries the account's id in its metadata, so its events find the
 * account even before the customer is linked.
 */
export async function createSubscriptionCheckout(deps: CheckoutDeps, buyerId: string, request: SubscriptionCheckoutRequest): Promise<CheckoutSession> {
  const { stripe, em, log } = deps;
  if (!stripe) throw billingNotConfigured();
  const successUrl = redirectUrl('input.successUrl', request.successUrl, `${deps.appUrl}/billing/success?session_id={CHECKOUT_SESSION_ID}`, deps.redirectOrigins);
  const cancelUrl = redirectUrl('input.cancelUrl', request.cancelUrl, `${deps.appUrl}/billing/cancel`, deps.redirectOrigins);
  const plan = await findPlan(em, request.planId);
  if (!plan || !plan.active) throw notFound('Plan', request.planId);
  if (!plan.stripePriceId) throw badUserInput('input.planId', `plan ${plan.id} has no Stripe Price, so it cannot be subscribed to`);
  const { accountId } = request;
  const live = await liveSubscriptionOf(deps, accountId);
  if (live) throw subscriptionIsLive(live, 'change the plan');

  let session: Stripe.Checkout.Session;
  try {
    const customer = await stripeCustomerFor(stripe, em, accountId);
    const metadata = { accountId, planId: plan.id, ...(accountId === buyerId ? { userId: buyerId } : { organizationId: accountId, buyerId }) };
    const fingerprint = createHash('sha256').update(JSON.stringify([deps.requestId, plan.id, successUrl, cancelUrl])).digest('base64url');
    session = await stripe.checkout.sessions.create(
      {
        mode: 'subscription',
        customer,
        client_reference_id: accountId,
        line_items: [{ price: plan.stripePriceId, quantity: 1 }],
        success_url: successUrl,
        cancel_url: cancelUrl,
        metadata,
        subscription_data: { metadata, ...(plan.trialDays ? { trial_period_days: plan.trialDays } : {}) },
      },
      { idempotencyKey: `tally-subscribe-${accountId}-${fingerprint.slice(0, 32)}` },
    );
  } catch (error) {
    throw stripeFailure(log, 'create the Checkout Session', error);
  }
  if (!session.url) {
    log.error({ stripeSessionId: session.id }, 'Stripe returned a Checkout Session without a URL');
    throw paymentProviderError('create the Checkout Session');
  }
  log.info({ stripeSessionId: session.id, planId: plan.id, accountId }, 'subscription checkout session created');
  return { id: session.id, url: session.url, transaction: null };
}

/**
 * A session of Stripe's customer portal for the account's customer (created if it has none yet), where its owner
 * changes plan, cancels and updates the card; those changes come back as subscription events.
 */
export async function createBillingPortalSession(deps: CheckoutDeps, accountId: string, returnUrl: string | null | undefined): Promise<{ url: string }> {
  const { stripe, em, log } = deps;
  if (!stripe) throw billingNotConfigured();
  const back = redirectUrl('input.returnUrl', returnUrl, `${deps.appUrl}/billing`, deps.redirectOrigins);
  try {
    const customer = await stripeCustomerFor(stripe, em, accountId);
    const session = await stripe.billingPortal.sessions.create({ customer, return_url: back });
    return { url: session.url };
  } catch (error) {
    throw stripeFailure(log, 'open the billing portal', error);
  }
}
