import Stripe from 'stripe';
import { paymentProviderError } from '../core/errors.js';
import type { Logger } from '../logger.js';

export function isStripeError(error: unknown, code?: string): error is Stripe.errors.StripeError {
  return error instanceof Stripe.errors.StripeError && (code === undefined || error.code === code);
}

/**
 * A refused or failed Stripe call as a client sees it: PAYMENT_PROVIDER_ERROR with a fixed message saying what we
 * tried. Stripe's own text (which can name our account's settings, prices and customers) goes to the log only.
 * Anything that is not a Stripe error is returned unchanged, to be rethrown.
 */
export function stripeFailure(log: Logger, action: string, error: unknown): unknown {
  if (!isStripeError(error)) return error;
  log.warn(
    { err: error, stripeType: error.type, stripeCode: error.code, stripeRequestId: error.requestId, stripeMessage: error.message },
    `Stripe refused: ${action}`,
  );
  return paymentProviderError(action);
}
