import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { badUserInput, billingNotConfigured, notFound, paymentProviderError } from '../core/errors.js';
import type { Ledger } from '../credits/ledger.js';
import type { Logger } from '../logger.js';
import type { CheckoutSession } from './checkout-session.js';
import { findPack, purchaseDescription, type CreditPack } from './credit-pack.model.js';
import { stripeCustomerFor } from './stripe-customer.js';
import { stripeFailure } from './stripe-errors.js';

const MAX_URL_LENGTH = 2048;

export interface CheckoutDeps {
  em: EntityManager;
  ledger: Ledger;
  stripe?: Stripe;
  log: Logger;
  /** Where Checkout returns by default (APP_URL). */
  appUrl: string;
  /** Origins a client may send the buyer back to: APP_URL's and CHECKOUT_REDIRECT_ORIGINS. */
  redirectOrigins: ReadonlySet<string>;
  /** Same request, same session: a client's retry of one request cannot open a second session. */
  requestId: string;
}

export interface CheckoutRequest {
  packId: string;
  /** The account credited: the buyer's own, or an organization they manage. */
  accountId: string;
  successUrl?: string | null;
  cancelUrl?: string | null;
}

/**
 * A URL Stripe's hosted page may send the buyer to. Only the app's own origins are allowed: any other would make
 * Tally an open redirect through a page that carries Stripe's good name.
 */
export function redirectUrl(field: string, value: string | null | undefined, fallback: string, origins: ReadonlySet<string>): string {
  if (value === null || value === undefined) return fallback;
  if (value.length > MAX_URL_LENGTH) throw badUserInput(field, `must be at most ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badUserInput(field, 'must be an http(s) URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw badUserInput(field, 'must be an http(s) URL');
  if (url.username || url.password) throw badUserInput(field, 'must not carry credentials');
  if (!origins.has(url.origin)) throw badUserInput(field, `must be on an allowed origin (${[...origins].join(', ')})`);
  return url.toString();
}

function lineItem(pack: CreditPack): Stripe.Checkout.SessionCreateParams.LineItem {
  if (pack.stripePriceId) return { price: pack.stripePriceId, quantity: 1 };
  return {
    quantity: 1,
    price_data: { currency: pack.currency, unit_amount: pack.priceCents, product_data: { name: pack.name, description: purchaseDescription(pack) } },
  };
}

/**
 * Starts a purchase for an account: its Stripe customer (created once), a Checkout Session in payment mode, then the
 * PENDING row.
 * The row is written only after Stripe answered, so a Stripe failure leaves nothing behind; a session whose row is
 * never written (we crashed in between) is still credited by the webhook from its metadata.
 */
export async function createCheckoutSession(deps: CheckoutDeps, buyerId: string, request: CheckoutRequest): Promise<CheckoutSession> {
  const { stripe, em, ledger, log } = deps;
  if (!stripe) throw billingNotConfigured();
  const successUrl = redirectUrl('input.successUrl', request.successUrl, `${deps.appUrl}/billing/success?session_id={CHECKOUT_SESSION_ID}`, deps.redirectOrigins);
  const cancelUrl = redirectUrl('input.cancelUrl', request.cancelUrl, `${deps.appUrl}/billing/cancel`, deps.redirectOrigins);
  const pack = await findPack(em, request.packId, { activeOnly: true });
  if (!pack) throw notFound('Credit pack', request.packId);

  let session: Stripe.Checkout.Session;
  try {
    const { accountId } = request;
    const customer = await stripeCustomerFor(stripe, em, accountId);
    // A session made outside the API (a script, the dashboard) is credited from accountId and packId like this one.
    const metadata = { accountId, packId: pack.id, ...(accountId === buyerId ? { userId: buyerId } : { organizationId: accountId, buyerId }) };
    const fingerprint = createHash('sha256').update(JSON.stringify([deps.requestId, pack.id, successUrl, cancelUrl])).digest('base64url');
    session = await stripe.checkout.sessions.create(
      {
        mode: 'payment',
        customer,
        client_reference_id: accountId,
        line_items: [lineItem(pack)],
        success_url: successUrl,
        cancel_url: cancelUrl,
        metadata,
        // The card is kept on the customer for auto-recharge's off-session payments (configureAutoRecharge).
        payment_intent_data: { metadata, setup_future_usage: 'off_session' },
      },
      { idempotencyKey: `tally-checkout-${accountId}-${fingerprint.slice(0, 32)}` },
    );
  } catch (error) {
    throw stripeFailure(log, 'create the Checkout Session', error);
  }
  if (!session.url) {
    log.error({ stripeSessionId: session.id }, 'Stripe returned a Checkout Session without a URL');
    throw paymentProviderError('create the Checkout Session');
  }

  const transaction = await ledger.purchases.recordPending({
    accountId: request.accountId,
    actorId: buyerId,
    credits: pack.credits,
    description: purchaseDescription(pack),
    stripeSessionId: session.id,
    metadata: { packId: pack.id, priceCents: pack.priceCents, currency: pack.currency },
  });
  log.info({ stripeSessionId: session.id, packId: pack.id, transactionId: transaction.id }, 'checkout session created');
  return { id: session.id, url: session.url, transaction };
}
