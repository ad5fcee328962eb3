/**
 * Errors that mean "PostgreSQL is unreachable right now" (refused, reset, timed out, shutting down or starting up),
 * as opposed to a bad query. Callers answer them with 503 / SERVICE_UNAVAILABLE so clients and Stripe retry.
 */
const UNAVAILABLE =
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Connection terminated|timeout exceeded when trying to connect|the database system is (shutting down|starting up|in recovery mode)|terminating connection|Client has encountered a connection error/i;

const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);

export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { message?: unknown; code?: unknown } | null;
  if (!e) return false;
  if (typeof e.code === 'string' && UNAVAILABLE_SQLSTATES.has(e.code)) return true;
  return UNAVAILABLE.test(typeof e.message === 'string' ? e.message : String(error));
}
