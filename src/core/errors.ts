/**
 * Domain errors: what a service raises when a request cannot be done, with a code a client can act on and the
 * details it needs. They know nothing of GraphQL or HTTP: graphql/errors.ts turns them into GraphQL errors and
 * ops/webhook-status.ts into HTTP statuses, each in one place.
 */

export const ErrorCode = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  INSUFFICIENT_CREDITS: 'INSUFFICIENT_CREDITS',
  IDEMPOTENCY_CONFLICT: 'IDEMPOTENCY_CONFLICT',
  RESERVATION_EXPIRED: 'RESERVATION_EXPIRED',
  RESERVATION_ALREADY_RESOLVED: 'RESERVATION_ALREADY_RESOLVED',
  BILLING_NOT_CONFIGURED: 'BILLING_NOT_CONFIGURED',
  PAYMENT_PROVIDER_ERROR: 'PAYMENT_PROVIDER_ERROR',
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  RATE_LIMITED: 'RATE_LIMITED',
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  SPEND_LIMIT_EXCEEDED: 'SPEND_LIMIT_EXCEEDED',
  CONFLICT: 'CONFLICT',
  PAYMENT_METHOD_REQUIRED: 'PAYMENT_METHOD_REQUIRED',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export type ErrorDetails = Record<string, string | number | boolean | null | readonly string[]>;

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

export const isDomainError = (error: unknown, code?: ErrorCode): error is DomainError =>
  error instanceof DomainError && (code === undefined || error.code === code);

export const unauthenticated = (message = 'Authentication required') => new DomainError(ErrorCode.UNAUTHENTICATED, message);

export const forbidden = (message = 'Not allowed') => new DomainError(ErrorCode.FORBIDDEN, message);

export const notFound = (what: string, id?: string) =>
  new DomainError(ErrorCode.NOT_FOUND, id ? `${what} ${id} not found` : `${what} not found`);

/** Bad input, naming the offending field (`input.amount`) so a client can point at it. */
export const badUserInput = (field: string, problem: string) =>
  new DomainError(ErrorCode.BAD_USER_INPUT, `Invalid ${field}: ${problem}`, { field });

/** `spendable` is the balance less credits held by open reservations (the same as `balance` when nothing is held). */
export const insufficientCredits = (balance: number, required: number, spendable: number = balance) =>
  new DomainError(ErrorCode.INSUFFICIENT_CREDITS, 'Not enough credits', { balance, required, spendable });

export const reservationExpired = (reservationId: string, expiresAt: Date) =>
  new DomainError(
    ErrorCode.RESERVATION_EXPIRED,
    `Reservation ${reservationId} expired at ${expiresAt.toISOString()}; its credits were released`,
    { reservationId, expiresAt: expiresAt.toISOString() },
  );

export const reservationAlreadyResolved = (reservationId: string, status: string, capturedAmount: number | null) =>
  new DomainError(
    ErrorCode.RESERVATION_ALREADY_RESOLVED,
    `Reservation ${reservationId} was already ${status}${capturedAmount === null ? '' : ` (${capturedAmount} credits)`}`,
    { reservationId, status: status.toUpperCase(), capturedAmount },
  );

export const idempotencyConflict = (idempotencyKey: string) =>
  new DomainError(ErrorCode.IDEMPOTENCY_CONFLICT, 'This idempotency key was already used with a different request', {
    idempotencyKey,
  });

export const billingNotConfigured = () => new DomainError(ErrorCode.BILLING_NOT_CONFIGURED, 'Billing is not configured on this server');

/** The payment provider failed or refused; its own text goes to the log, never to the client. */
export const paymentProviderError = (action: string) =>
  new DomainError(ErrorCode.PAYMENT_PROVIDER_ERROR, `The payment provider could not ${action}; try again later`);

/** A member of an organization would go past their monthly spend limit (holds open count as spent). */
export const spendLimitExceeded = (details: { limit: number; spent: number; held: number; required: number }) =>
  new DomainError(
    ErrorCode.SPEND_LIMIT_EXCEEDED,
    `This would go past your monthly spend limit of ${details.limit.toLocaleString('en-US')} credits in this organization (${details.spent.toLocaleString('en-US')} spent, ${details.held.toLocaleString('en-US')} held this month)`,
    details,
  );

/** A per-account cap on something a client can pile up for free (open reservations, workshops). */
export const limitExceeded = (resource: string, limit: number) =>
  new DomainError(ErrorCode.LIMIT_EXCEEDED, `At most ${limit.toLocaleString('en-US')} ${resource} are allowed`, { resource, limit });

export const serviceUnavailable = () =>
  new DomainError(ErrorCode.SERVICE_UNAVAILABLE, 'The service is temporarily unavailable; try again shortly');

/** The account's plan is its Stripe subscription's: changing it happens in Stripe's billing portal. */
export const subscriptionIsLive = (subscriptionStatus: string, action: string) =>
  new DomainError(
    ErrorCode.CONFLICT,
    `This account already has a live subscription (${subscriptionStatus.toUpperCase()}): ${action} in the billing portal (createBillingPortalSession), or cancel the subscription first`,
    { subscriptionStatus: subscriptionStatus.toUpperCase() },
  );

/** Off-session payments (auto-recharge) need a card saved by an earlier Checkout purchase. */
export const paymentMethodRequired = () =>
  new DomainError(
    ErrorCode.PAYMENT_METHOD_REQUIRED,
    'Auto-recharge needs a saved card: buy a credit pack through Checkout first (it saves the card for later payments)',
  );
