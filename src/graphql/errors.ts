import { GraphQLError } from 'graphql';

/** Error factories: every error a client can act on carries a stable `extensions.code`. */

export const unauthenticated = (message = 'Authentication required') =>
  new GraphQLError(message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });

export const forbidden = (message = 'Not allowed') => new GraphQLError(message, { extensions: { code: 'FORBIDDEN' } });

export const notFound = (what: string, id?: string) =>
  new GraphQLError(id ? `${what} ${id} not found` : `${what} not found`, { extensions: { code: 'NOT_FOUND' } });

export const badUserInput = (field: string, problem: string) =>
  new GraphQLError(`Invalid ${field}: ${problem}`, { extensions: { code: 'BAD_USER_INPUT', field } });

/** `spendable` is the balance less credits held by open reservations (the same as `balance` when nothing is held). */
export const insufficientCredits = (balance: number, required: number, spendable: number = balance) =>
  new GraphQLError('Not enough credits', { extensions: { code: 'INSUFFICIENT_CREDITS', balance, required, spendable } });

export const reservationExpired = (reservationId: string, expiresAt: Date) =>
  new GraphQLError(`Reservation ${reservationId} expired at ${expiresAt.toISOString()}; its credits were released`, {
    extensions: { code: 'RESERVATION_EXPIRED', reservationId, expiresAt: expiresAt.toISOString() },
  });

export const reservationAlreadyResolved = (reservationId: string, status: string, capturedAmount: number | null) =>
  new GraphQLError(
    `Reservation ${reservationId} was already ${status}${capturedAmount === null ? '' : ` (${capturedAmount} credits)`}`,
    { extensions: { code: 'RESERVATION_ALREADY_RESOLVED', reservationId, status: status.toUpperCase(), capturedAmount } },
  );

export const idempotencyConflict = (idempotencyKey: string) =>
  new GraphQLError('This idempotency key was already used with a different request', {
    extensions: { code: 'IDEMPOTENCY_CONFLICT', idempotencyKey },
  });

export const billingNotConfigured = () =>
  new GraphQLError('Billing is not configured on this server', { extensions: { code: 'BILLING_NOT_CONFIGURED' } });

export const paymentProviderError = (message: string) =>
  new GraphQLError(`Payment provider error: ${message}`, { extensions: { code: 'PAYMENT_PROVIDER_ERROR' } });

export const serviceUnavailable = () =>
  new GraphQLError('The service is temporarily unavailable; try again shortly', {
    extensions: { code: 'SERVICE_UNAVAILABLE', http: { status: 503 } },
  });
