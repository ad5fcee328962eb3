import Stripe from 'stripe';
import { paymentProviderError } from '../graphql/errors.js';
import type { Logger } from '../logger.js';

export function isStripeError(error: unknown, code?: string): error is Stripe.errors.StripeError {
  return error instanceof Stripe.errors.StripeError && (code === undefined || error.code === code);
}

/**
 * A refused or failed Stripe call as a client sees it: what we tried and Stripe's own explanation (Stripe writes those
 * for developers; they carry no secrets). Anything that is not a Stripe error is returned unchanged, to be rethrown.
 */
export function stripeFailure(log: Logger, action: string, error: unknown): unknown {
  if (!isStripeError(error)) return error;
  log.warn({ err: error, stripeType: error.type, stripeCode: error.code, stripeRequestId: error.requestId }, `Stripe refused: ${action}`);
  const reason = error instanceof Stripe.errors.StripeConnectionError ? 'Stripe could not be reached' : error.message;
  return paymentProviderError(`could not ${action}: ${reason}`);
}
