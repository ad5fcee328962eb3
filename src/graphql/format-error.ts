import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { isDatabaseUnavailable } from '../database/unavailable.js';
import type { Logger } from '../logger.js';

const CLIENT_CODES = new Set([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'INSUFFICIENT_CREDITS',
  'IDEMPOTENCY_CONFLICT',
  'RESERVATION_EXPIRED',
  'RESERVATION_ALREADY_RESOLVED',
  'BILLING_NOT_CONFIGURED',
  'PAYMENT_PROVIDER_ERROR',
  'SERVICE_UNAVAILABLE',
  'RATE_LIMITED',
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);


/**
 * What a client sees of an error: codes it can act on pass through; anything else is logged with its detail and
 * answered as INTERNAL_SERVER_ERROR (or SERVICE_UNAVAILABLE when the database is unreachable) without stack, SQL
 * or driver message.
 */
export function createErrorFormatter(log: Logger, exposeDetails: boolean) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && CLIENT_CODES.has(code)) {
      const { stacktrace: _stacktrace, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    const original = unwrapResolverError(error);
    const message = original instanceof Error ? original.message : String(original);
    if (isDatabaseUnavailable(original)) {
      log.warn({ err: original, path: formatted.path }, 'database unavailable');
      return { message: 'The service is temporarily unavailable; try again shortly', path: formatted.path, extensions: { code: 'SERVICE_UNAVAILABLE' } };
    }
    if (original instanceof GraphQLError && !original.originalError && typeof code !== 'string') {
      return { ...formatted, extensions: { code: 'BAD_USER_INPUT' } };
    }
    log.error({ err: original, path: formatted.path }, 'unexpected error while resolving');
    return {
      message: exposeDetails ? message : 'Internal server error',
      path: formatted.path,
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}
