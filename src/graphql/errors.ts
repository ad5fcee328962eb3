import { HeaderMap } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { DomainError, ErrorCode } from '../core/errors.js';

/** HTTP statuses for the errors that fail a whole request (before any resolver runs); the rest answer 200. */
const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.BAD_USER_INPUT]: 400,
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.SERVICE_UNAVAILABLE]: 503,
};

/**
 * The one place where a domain error becomes a GraphQL error: its code and details in `extensions`, where clients
 * read them, and for request-level failures the HTTP status (and Retry-After) Apollo answers with.
 */
export function toGraphQLError(error: DomainError): GraphQLError {
  const status = HTTP_STATUS[error.code];
  const retryAfter = error.details.retryAfterSeconds;
  const http =
    status === undefined ? undefined : { status, headers: new HeaderMap(typeof retryAfter === 'number' ? [['retry-after', String(retryAfter)]] : []) };
  return new GraphQLError(error.message, { extensions: { code: error.code, ...error.details, ...(http ? { http } : {}) } });
}

/** Codes a client may see as they are; anything else is answered as INTERNAL_SERVER_ERROR (format-error.ts). */
export const CLIENT_CODES: ReadonlySet<string> = new Set([
  ...Object.values(ErrorCode),
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);
