import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs on stdout; one line per event, with the request id bound on request-scoped children. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'tally' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['req.headers.authorization', 'req.headers["stripe-signature"]', '*.password'], remove: true },
  });
}
