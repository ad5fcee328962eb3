import type { MikroORM } from '@mikro-orm/postgresql';
import type { RequestHandler } from 'express';

/** A probe answers within this even when the database hangs; load balancers give up after a few seconds. */
const CHECK_TIMEOUT_MS = 2_000;

/**
 * `select 1` with a deadline. Probes that arrive while a check is running share it, so a hanging database cannot
 * pile up probe queries in the pool.
 */
function databaseCheck(orm: MikroORM): () => Promise<boolean> {
  let inFlight: Promise<boolean> | undefined;
  return () => {
    inFlight ??= (async () => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS);
      });
      const query = orm.em
        .getConnection()
        .execute('select 1')
        .then(
          () => true,
          () => false,
        );
      try {
        return await Promise.race([query, deadline]);
      } finally {
        clearTimeout(timer);
        inFlight = undefined;
      }
    })();
    return inFlight;
  };
}

/**
 * GET /healthz (liveness) and GET /readyz (readiness): 200 while PostgreSQL answers, 503 when it does not or does not
 * answer in time. All state is in PostgreSQL, so an instance without it can serve nothing.
 */
export function healthChecks(
  orm: MikroORM,
  isDraining: () => boolean = () => false,
): { healthz: RequestHandler; readyz: RequestHandler } {
  const check = databaseCheck(orm);
  const probe =
    (okStatus: string, drains: boolean): RequestHandler =>
    async (_req, res) => {
      res.setHeader('cache-control', 'no-store');
      // A draining instance finishes what it has but asks the load balancer for nothing new.
      if (drains && isDraining()) res.status(503).json({ status: 'draining' });
      else if (await check()) res.json({ status: okStatus });
      else res.status(503).json({ status: 'unavailable', reason: 'database unreachable' });
    };
  return { healthz: probe('ok', false), readyz: probe('ready', true) };
}
