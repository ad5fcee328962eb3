import type { ErrorRequestHandler } from 'express';
import type { Logger } from '../logger.js';

interface HttpError {
  status?: number;
  statusCode?: number;
  type?: string;
  expose?: boolean;
}

const MESSAGES: Record<number, string> = { 400: 'Bad request', 413: 'Request body too large', 415: 'Unsupported content type' };

/**
 * Errors that reach Express (body parsing, above all) as short JSON, never Express's HTML page with a stack trace:
 * GraphQL-shaped on /graphql so clients can read them like any other error, `{ error }` elsewhere.
 */
export function httpErrorHandler(log: Logger): ErrorRequestHandler {
  return (error: unknown, req, res, next) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const { status: given, statusCode, type, expose } = (error ?? {}) as HttpError;
    const status = expose && (given ?? statusCode) ? (given ?? statusCode)! : 500;
    if (status >= 500) log.error({ err: error }, 'unhandled error');
    else log.info({ status, type }, 'rejected request');
    const message = type === 'entity.parse.failed' ? 'Malformed JSON body' : (MESSAGES[status] ?? (status >= 500 ? 'Internal server error' : 'Bad request'));
    res.status(status);
    if (req.path === '/graphql' || req.path.startsWith('/graphql/')) {
      const code = status === 413 ? 'PAYLOAD_TOO_LARGE' : status >= 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST';
      res.json({ errors: [{ message, extensions: { code } }] });
    } else {
      res.json({ error: message });
    }
  };
}
