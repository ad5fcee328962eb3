import type { RequestHandler } from 'express';
import type { Logger } from '../logger.js';
import { requestScopeOf } from './request-id.js';

/** Probes that a load balancer or scraper sends every few seconds; logged at debug so they do not drown the rest. */
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

/** One line per HTTP request when it ends: method, path, status, duration, GraphQL operation and request id. */
export function accessLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const path = req.path;
    const write = (aborted: boolean) => {
      const scope = requestScopeOf(res);
      const line = {
        requestId: scope.requestId,
        method: req.method,
        path,
        status: aborted ? 499 : res.statusCode,
        durationMs: Math.round((performance.now() - scope.startedAt) * 10) / 10,
        operationName: scope.operationName,
      };
      if (PROBES.has(path)) log.debug(line, 'request');
      else if (line.status >= 500) log.warn(line, 'request');
      else log.info(line, 'request');
    };
    res.once('finish', () => write(false));
    res.once('close', () => {
      if (!res.writableFinished) write(true);
    });
    next();
  };
}
