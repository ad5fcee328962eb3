import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { DomainError } from '../core/errors.js';
import { isDatabaseUnavailable } from '../database/pg-errors.js';
import type { Logger } from '../logger.js';
import { ClientGoneError } from '../request-scope.js';
import { CLIENT_CODES, toGraphQLError } from './errors.js';

/**
 * What a client sees of an error: domain errors with their code and details; codes a client can act on pass
 * through; anything else is logged with its detail and answered as INTERNAL_SERVER_ERROR (or SERVICE_UNAVAILABLE
 * when the database is unreachable) with a fixed message. No stack, SQL, driver or provider text reaches a client in
 * any mode: an operator who forgets NODE_ENV leaks nothing; the log has the detail.
 */
export function createErrorFormatter(log: Logger, options: { hideSuggestions?: boolean } = {}) {
  const format = (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    if (original instanceof DomainError) {
      const { message, extensions } = toGraphQLError(original);
      const { http: _http, ...visible } = extensions;
      return { message, path: formatted.path, locations: formatted.locations, extensions: visible };
    }
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && CLIENT_CODES.has(code)) {
      // `http` is Apollo's instruction for the HTTP answer (a status, headers), not something to show a client.
      const { stacktrace: _stacktrace, http: _http, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    if (original instanceof ClientGoneError || (original as { cause?: unknown } | null)?.cause instanceof ClientGoneError) {
      // Nobody is left to read this answer; the work stopped on purpose.
      log.info({ path: formatted.path }, 'client went away; its statements were stopped');
      return { message: 'The client closed the request', path: formatted.path, extensions: { code: 'CLIENT_CLOSED_REQUEST' } };
    }
    if (isDatabaseUnavailable(original)) {
      log.warn({ err: original, path: formatted.path }, 'database unavailable');
      return { message: 'The service is temporarily unavailable; try again shortly', path: formatted.path, extensions: { code: 'SERVICE_UNAVAILABLE' } };
    }
    if (original instanceof GraphQLError && !original.originalError && typeof code !== 'string') {
      return { ...formatted, extensions: { code: 'BAD_USER_INPUT' } };
    }
    // Apollo's own refusals of a request it could not take (an unsupported persisted-query version, a hash that does
    // not match its query) carry an HTTP 4xx and no code.
    const status = original instanceof GraphQLError && !original.originalError ? (original.extensions.http as { status?: number } | undefined)?.status : undefined;
    if (status !== undefined && status >= 400 && status < 500) {
      return { message: formatted.message, extensions: { code: 'BAD_REQUEST' } };
    }
    log.error({ err: original, path: formatted.path }, 'unexpected error while resolving');
    return { message: 'Internal server error', path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  };
  if (!options.hideSuggestions) return format;
  // "Did you mean ...?" (a field, an argument, an enum value) tells a stranger the schema that production no longer
  // lets them introspect.
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const answer = format(formatted, error);
    // graphql-js appends the suggestion last (' Did you mean "x"?'). Cut by position, not a regular expression: a
    // message echoes client input, and a backtracking pattern over a long run of spaces would stall the server.
    const at = answer.message.lastIndexOf(' Did you mean ');
    if (at < 0 || !answer.message.endsWith('?')) return answer;
    return { ...answer, message: answer.message.slice(0, at) };
  };
}
