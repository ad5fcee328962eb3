import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Metrics } from './metrics.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * GET /metrics in Prometheus text format; behind `Authorization: Bearer <METRICS_TOKEN>` when a token is set. In
 * production without a token it answers nobody, unless the operator opted out explicitly (METRICS_PUBLIC=true).
 */
export function metricsRoute(metrics: Metrics, options: { token?: string; closed: boolean }): RequestHandler {
  const { token, closed } = options;
  const expected = token === undefined ? undefined : digest(`Bearer ${token}`);
  return async (req, res) => {
    if (closed) {
      res.status(404).json({ error: 'metrics are off: set METRICS_TOKEN (or METRICS_PUBLIC=true behind a private network)' });
      return;
    }
    if (expected && !timingSafeEqual(digest(req.get('authorization') ?? ''), expected)) {
      res.status(401).setHeader('www-authenticate', 'Bearer').json({ error: 'metrics need the METRICS_TOKEN bearer token' });
      return;
    }
    res.setHeader('content-type', metrics.registry.contentType);
    res.setHeader('cache-control', 'no-store');
    res.send(await metrics.registry.metrics());
  };
}
