import { pino, type Logger } from 'pino';
import { currentRequestScope } from './request-scope.js';

export type { Logger };

/**
 * Structured JSON logs, one line per event. A line written while serving a request carries that request's
 * `requestId`, whichever logger wrote it.
 *
 * Lines go to stdout synchronously, each in one write, so they arrive in the order they were logged and the last
 * ones before an exit are never lost. pino's default stream writes in the background on the thread pool, and at exit
 * writes what it still holds at once, without waiting for a write in flight: under load the shutdown's "stopped"
 * line could land before its "shutting down", and a line could go missing.
 */
export function createLogger(level: string): Logger {
  return pino(
    {
      level,
      base: { service: 'tally' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['req.headers.authorization', 'req.headers["stripe-signature"]', '*.password'], remove: true },
      mixin: () => {
        const scope = currentRequestScope();
        return scope ? { requestId: scope.requestId } : {};
      },
    },
    pino.destination({ dest: 1, sync: true }),
  );
}
