import type { MikroORM } from '@mikro-orm/postgresql';
import type { Logger } from '../logger.js';
import { grantAllowances } from './allowances.js';
import { sweepExpired } from './expiry.js';

export interface CreditJobsOptions {
  orm: MikroORM;
  log: Logger;
  intervalSeconds: number;
  now?: () => Date;
}

export interface CreditJobs {
  /** Stops scheduling and waits for a run in progress to finish. */
  stop(): Promise<void>;
}

/**
 * The background loop of one API instance: each interval, this month's plan allowances, then the expiry sweep. Every
 * instance runs it; both jobs are safe to run concurrently (see allowances.ts and expiry.ts). The timer is unref'd,
 * so it never keeps the process alive on its own; main.ts stops it on shutdown before closing the database.
 */
export function startCreditJobs({ orm, log, intervalSeconds, now = () => new Date() }: CreditJobsOptions): CreditJobs {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const runOnce = async () => {
    const at = now();
    const em = orm.em.fork();
    try {
      const granted = await grantAllowances(em, at);
      const swept = await sweepExpired(em, at);
      if (granted.granted > 0 || swept.accountsSwept > 0) log.info({ allowances: granted, expiry: swept }, 'credit jobs ran');
    } catch (error) {
      log.error({ err: error }, 'credit jobs failed; retrying next interval');
    }
  };

  const schedule = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = runOnce().finally(() => {
        running = undefined;
        schedule(intervalSeconds * 1000);
      });
    }, delayMs);
    timer.unref();
  };

  if (intervalSeconds > 0) schedule(0);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
