/**
 * Errors that mean "PostgreSQL is unreachable right now" (refused, reset, timed out, shutting down or starting up),
 * as opposed to a bad query. Callers answer them with 503 / SERVICE_UNAVAILABLE so clients and Stripe retry.
 */
const UNAVAILABLE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection terminated|timeout exceeded when trying to connect|the database system is (shutting down|starting up|in recovery mode)|terminating connection|Client has encountered a connection error/i;

// 57014: cancelled, by statement_timeout (a statement that ran too long, say behind a lock) or a cancel request.
const UNAVAILABLE_SQLSTATES = new Set(['57014', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);

export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { message?: unknown; code?: unknown } | null;
  if (!e) return false;
  if (typeof e.code === 'string' && UNAVAILABLE_SQLSTATES.has(e.code)) return true;
  return UNAVAILABLE.test(typeof e.message === 'string' ? e.message : String(error));
}

/** A unique constraint refused a row (SQLSTATE 23505), optionally a given one. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string } | null;
  return !!e && e.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

/** A value did not fit its column (SQLSTATE 22003), e.g. a balance pushed past the largest integer. */
export function isOutOfRange(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === '22003';
}
