import { pino, type Logger } from 'pino';
import { currentRequestScope } from './request-scope.js';

export type { Logger };

/**
 * Structured JSON logs, one line per event. A line written while serving a request carries that request's
 * `requestId`, whichever logger wrote it.
 */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'tally' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', 'req.headers["stripe-signature"]', '*.password'], remove: true },
    mixin: () => {
      const scope = currentRequestScope();
      return scope ? { requestId: scope.requestId } : {};
    },
  });
}
