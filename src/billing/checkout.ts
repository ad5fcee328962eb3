import { createHash } from 'node:crypto';
import type Stripe from 'stripe';
import { CreditTransaction } from '../credits/credit-transaction.entity.js';
import { isUniqueViolation, STRIPE_SESSION_CONSTRAINT } from '../credits/ledger-sql.js';
import type { Context } from '../graphql/context.js';
import { badUserInput, billingNotConfigured, notFound, paymentProviderError } from '../graphql/errors.js';
import { httpUrl, text } from '../graphql/validation.js';
import type { User } from '../users/user.entity.js';
import type { CreateCheckoutSessionInput } from './billing.input.js';
import { CreditPack, purchaseDescription } from './credit-pack.entity.js';
import type { CheckoutSession } from './checkout-session.js';
import { stripeCustomerFor } from './stripe-customer.js';
import { stripeFailure } from './stripe-errors.js';

const MAX_URL_LENGTH = 2048;

function redirectUrl(field: string, value: string | null | undefined, fallback: string): string {
  if (value != null && value.length > MAX_URL_LENGTH) throw badUserInput(field, `must be at most ${MAX_URL_LENGTH} characters`);
  return httpUrl(field, value) ?? fallback;
}

function lineItem(pack: CreditPack): Stripe.Checkout.SessionCreateParams.LineItem {
  if (pack.stripePriceId) return { price: pack.stripePriceId, quantity: 1 };
  return {
    quantity: 1,
    price_data: { currency: pack.currency, unit_amount: pack.priceCents, product_data: { name: pack.name, description: purchaseDescription(pack) } },
  };
}

/**
 * Starts a purchase: the Stripe customer (created once), a Checkout Session in payment mode, then the PENDING row.
 * The row is written only after Stripe answered, so a Stripe failure leaves nothing behind; a session whose row is
 * never written (we crashed in between) is still credited by the webhook from its metadata.
 */
export async function createCheckoutSession(ctx: Context, viewer: User, input: CreateCheckoutSessionInput): Promise<CheckoutSession> {
  const { services, em, ledger, log } = ctx;
  const stripe = services.stripe;
  if (!stripe) throw billingNotConfigured();
  const appUrl = services.config.appUrl;
  const successUrl = redirectUrl('input.successUrl', input.successUrl, `${appUrl}/billing/success?session_id={CHECKOUT_SESSION_ID}`);
  const cancelUrl = redirectUrl('input.cancelUrl', input.cancelUrl, `${appUrl}/billing/cancel`);
  const packId = text('input.packId', input.packId, { max: 100 });
  const pack = await em.findOne(CreditPack, { id: packId, active: true });
  if (!pack) throw notFound('Credit pack', packId);

  let session: Stripe.Checkout.Session;
  try {
    const customer = await stripeCustomerFor(stripe, em, viewer);
    const metadata = { userId: viewer.id, packId: pack.id };
    // Same request (same X-Request-Id), same session: a client retry cannot open a second one.
    const fingerprint = createHash('sha256').update(JSON.stringify([ctx.requestId, pack.id, successUrl, cancelUrl])).digest('base64url');
    session = await stripe.checkout.sessions.create(
      {
        mode: 'payment',
        customer,
        client_reference_id: viewer.id,
        line_items: [lineItem(pack)],
        success_url: successUrl,
        cancel_url: cancelUrl,
        metadata,
        payment_intent_data: { metadata },
      },
      { idempotencyKey: `tally-checkout-${viewer.id}-${fingerprint.slice(0, 32)}` },
    );
  } catch (error) {
    throw stripeFailure(log, 'create the Checkout Session', error);
  }
  if (!session.url) throw paymentProviderError('Stripe returned a Checkout Session without a URL');

  let transaction: CreditTransaction;
  try {
    transaction = await ledger.purchases.recordPending({
      userId: viewer.id,
      credits: pack.credits,
      description: purchaseDescription(pack),
      stripeSessionId: session.id,
      metadata: { packId: pack.id, priceCents: pack.priceCents, currency: pack.currency },
    });
  } catch (error) {
    if (!isUniqueViolation(error, STRIPE_SESSION_CONSTRAINT)) throw error;
    transaction = await em.fork().findOneOrFail(CreditTransaction, { stripeSessionId: session.id, user: viewer.id });
  }
  log.info({ stripeSessionId: session.id, packId: pack.id, transactionId: transaction.id }, 'checkout session created');
  return { id: session.id, url: session.url, transaction };
}
