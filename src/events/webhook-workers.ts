import type { MikroORM } from '@mikro-orm/postgresql';
import type { WebhookConfig } from '../config.js';
import type { Logger } from '../logger.js';
import { claimDueAttempts, settleAttempts, type ClaimedAttempt, type Settlement } from './deliveries.js';
import { dispatchEvents } from './dispatcher.js';
import { webhookBody } from './event-body.js';
import { systemResolver, type HostResolver } from './network-guard.js';
import { signatureHeaders } from './signing.js';
import { postWebhook } from './webhook-client.js';

/** Events fanned out per round (one dispatcher transaction). */
const DISPATCH_BATCH = 500;

/** Outcomes recorded per statement at most. */
const SETTLE_BATCH = 200;

/**
 * A lease outlasts the longest an attempt can take (timeoutMs bounds it whole) twice over, plus time to record the
 * outcome; only then does another instance take a delivery whose sender went silent.
 */
export const leaseMs = (timeoutMs: number) => 2 * timeoutMs + 5_000;

export interface WebhookWorkersOptions {
  orm: MikroORM;
  log: Logger;
  config: WebhookConfig;
  resolver?: HostResolver;
}

export interface WebhookWorkers {
  /** Stops claiming, then waits for the round and the attempts under way (each bounded by the timeout). */
  stop(): Promise<void>;
}

/**
 * One instance's share of webhook delivery. Each round (every WEBHOOK_WORKER_INTERVAL_MS, and again whenever an
 * attempt finishes) fans out new events, then claims as many due attempts as it has free slots and sends them
 * without waiting: at most `concurrency` in flight, at most `endpointConcurrency` per endpoint. Sending happens
 * outside any transaction and off the request path, so a slow endpoint holds a slot, never a request or a lock.
 * Every instance runs this; claims with SKIP LOCKED and leases keep them out of each other's way.
 */
export function startWebhookWorkers({ orm, log, config, resolver = systemResolver }: WebhookWorkersOptions): WebhookWorkers {
  const inFlight = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let round: Promise<void> | undefined;
  let again = false;
  let stopped = false;

  // Outcomes wait here while a statement records earlier ones, then go together in the next (group commit): one
  // attempt alone is recorded at once, a busy stream of them in a statement per batch rather than per attempt.
  const outcomes: (Settlement & { done: (status: string | undefined) => void; failed: (error: unknown) => void })[] = [];
  let recording: Promise<void> | undefined;
  const record = () => {
    if (recording || outcomes.length === 0) return;
    const batch = outcomes.splice(0, SETTLE_BATCH);
    recording = settleAttempts(orm.em.fork(), batch, config.retryBaseMs)
      .then(
        (statuses) => batch.forEach((entry, i) => entry.done(statuses[i])),
        (error: unknown) => batch.forEach((entry) => entry.failed(error)),
      )
      .finally(() => {
        recording = undefined;
        record();
      });
  };
  const settle = (claimed: ClaimedAttempt, outcome: Settlement['outcome']) =>
    new Promise<string | undefined>((done, failed) => {
      outcomes.push({ claimed, outcome, done, failed });
      record();
    });

  const attempt = async (claimed: ClaimedAttempt) => {
    const body = JSON.stringify(webhookBody(claimed.event));
    const headers = signatureHeaders(String(claimed.event.id), body, claimed.secrets, new Date());
    const outcome = await postWebhook(claimed.url, body, { ...headers }, { ...config, resolver });
    const status = await settle(claimed, outcome);
    const fields = { deliveryId: claimed.deliveryId, endpointId: claimed.endpointId, eventId: claimed.event.id, attempt: claimed.attempt, status };
    if (outcome.ok) log.debug(fields, 'webhook delivered');
    else log.warn({ ...fields, responseStatus: outcome.status, error: outcome.error }, 'webhook attempt failed');
  };

  const start = (claimed: ClaimedAttempt) => {
    const running: Promise<void> = attempt(claimed)
      .catch((error: unknown) => log.error({ err: error, deliveryId: claimed.deliveryId }, 'webhook attempt not recorded; it is retried when its lease runs out'))
      .finally(() => {
        inFlight.delete(running);
        wake();
      });
    inFlight.add(running);
  };

  const runRound = async () => {
    const em = orm.em.fork();
    try {
      // One batch of fan-out per round, then claims: under a steady stream of events a round that fanned out
      // batch after batch would leave the attempts waiting. A full batch means more is waiting: another round follows.
      if ((await dispatchEvents(em, DISPATCH_BATCH)) === DISPATCH_BATCH) again = true;
      const free = config.concurrency - inFlight.size;
      if (free <= 0 || stopped) return;
      const claimed = await claimDueAttempts(em, { limit: free, perEndpoint: config.endpointConcurrency, leaseMs: leaseMs(config.timeoutMs) });
      for (const next of claimed) start(next);
    } catch (error) {
      log.error({ err: error }, 'webhook round failed; retrying next interval');
    }
  };

  const schedule = () => {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(wake, config.workerIntervalMs);
    timer.unref();
  };

  function wake() {
    if (stopped) return;
    if (round) {
      again = true;
      return;
    }
    again = false;
    round = runRound().finally(() => {
      round = undefined;
      if (again) wake();
      else schedule();
    });
  }

  if (config.workerIntervalMs > 0) wake();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await round;
      await Promise.all([...inFlight]);
    },
  };
}
