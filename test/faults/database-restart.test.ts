import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { print } from 'graphql';
import pg from 'pg';
import { freePort, startEmbeddedPostgres, type EmbeddedCluster } from '../../src/database/embedded-postgres.js';
import { CreditBalanceDocument } from '../generated/graphql.js';
import {
  ConsumeLoad,
  consumeOnce,
  outcomeMismatches,
  postGraphQL,
  provision,
  retryUndecided,
  type ConsumeAttempt,
  type Outcome,
} from '../support/consume-load.js';
import { removeDirs, stopAllProcesses, tempDir, waitUntil } from '../support/processes.js';
import { healthOf, spawnApi, type SpawnedApi } from '../support/spawned-api.js';
import { auditDatabase } from '../support/ledger.js';

/** A liveness bound, not a performance target: an answer must come, rather than a request hanging on a dead pool. */
const ANSWER_WITHIN_MS = 15_000;
const THROWAWAY = { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' };
/** What a client must never see: driver messages, addresses, SQL. */
const DRIVER_TEXT = /ECONNREFUSED|ECONNRESET|127\.0\.0\.1|postgres|terminating|administrator|connect |pg_|relation|select |insert |update /i;

describe('PostgreSQL stops under load and starts again', () => {
  let dir: string;
  let cluster: EmbeddedCluster | undefined;
  let api: SpawnedApi;
  let load: ConsumeLoad;
  let attempts: ConsumeAttempt[] = [];
  const outage: { consume?: ConsumeAttempt; balance?: Outcome; balanceMs?: number; health?: number; loadAttempts: ConsumeAttempt[] } = {
    loadAttempts: [],
  };
  const recovery: ConsumeAttempt[] = [];

  beforeAll(async () => {
    dir = await tempDir('tally-fault-pg');
    // A fixed port: the API keeps its DATABASE_URL, so the restarted cluster must come back where it was.
    const port = await freePort();
    cluster = await startEmbeddedPostgres({ dir, port, settings: THROWAWAY });
    api = await spawnApi({ databaseUrl: cluster.url, env: { STARTER_CREDITS: '1000000' } });
    for (const subject of ['pg_user_a', 'pg_user_b']) await provision(api.url, subject);

    load = new ConsumeLoad(api.url, 'pg', { stopOnNoAnswer: false, pauseAfterErrorMs: 100, timeoutMs: ANSWER_WITHIN_MS + 5_000 }).start([
      { subject: 'pg_user_a', amount: 1 },
      { subject: 'pg_user_a', amount: 1 },
      { subject: 'pg_user_b', amount: 3 },
      { subject: 'pg_user_b', amount: 3 },
    ]);
    await waitUntil(async () => load.count('success') >= 30, { timeoutMs: 30_000, what: 'consumptions before the outage', intervalMs: 5 });

    await cluster.stop();
    const stoppedAt = load.attempts.length;
    outage.consume = await consumeOnce(api.url, 'pg_user_a', 'pg-during-outage', 1, ANSWER_WITHIN_MS + 5_000);
    const started = Date.now();
    outage.balance = await postGraphQL(api.url, 'pg_user_b', print(CreditBalanceDocument), {}, ANSWER_WITHIN_MS + 5_000);
    outage.balanceMs = Date.now() - started;
    outage.health = await healthOf(api.url, ANSWER_WITHIN_MS + 5_000);
    await waitUntil(async () => load.attempts.length - stoppedAt >= 8, { timeoutMs: 30_000, what: 'requests during the outage' });
    outage.loadAttempts = load.attempts.slice(stoppedAt);

    cluster = await startEmbeddedPostgres({ dir, port, settings: THROWAWAY });
    let n = 0;
    await waitUntil(
      async () => {
        const attempt = await consumeOnce(api.url, 'pg_user_a', `pg-recovery-${++n}`, 1, ANSWER_WITHIN_MS + 5_000);
        recovery.push(attempt);
        return attempt.outcome.kind === 'success';
      },
      { timeoutMs: 60_000, what: 'a consumption to succeed after PostgreSQL came back', intervalMs: 250 },
    );
    attempts = [...(await load.stop()), outage.consume, ...recovery];
  }, 180_000);

  afterAll(async () => {
    await stopAllProcesses();
    await cluster?.stop();
    if (dir) {
      await stopAllProcesses([dir]);
      await removeDirs([dir]);
    }
  });

  it('answers a consumption during the outage promptly, with a clear code and no driver text', () => {
    const consume = outage.consume!;
    expect(consume.elapsedMs).toBeLessThan(ANSWER_WITHIN_MS);
    expect(consume.outcome).toMatchObject({ kind: 'error' });
    const outcome = consume.outcome as Extract<Outcome, { kind: 'error' }>;
    expect(outcome).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503 });
    expect(outcome.message).not.toMatch(DRIVER_TEXT);
  });

  it('answers reads during the outage the same way', () => {
    expect(outage.balanceMs).toBeLessThan(ANSWER_WITHIN_MS);
    expect(outage.balance).toMatchObject({ kind: 'error' });
    const outcome = outage.balance as Extract<Outcome, { kind: 'error' }>;
    expect(outcome).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503 });
    expect(outcome.message).not.toMatch(DRIVER_TEXT);
  });

  it('keeps answering the load during the outage: no request hangs, none leaks driver text', () => {
    expect(outage.loadAttempts.length).toBeGreaterThanOrEqual(8);
    for (const attempt of outage.loadAttempts) {
      expect(attempt.outcome.kind).not.toBe('no-answer');
      expect(attempt.elapsedMs).toBeLessThan(ANSWER_WITHIN_MS);
      if (attempt.outcome.kind === 'error') expect(attempt.outcome.message).not.toMatch(DRIVER_TEXT);
    }
    expect(outage.loadAttempts.some((a) => a.outcome.kind === 'error')).toBe(true);
  });

  it('reports 503 on /healthz while the database is down', () => {
    expect(outage.health).toBe(503);
  });

  it('recovers by itself when the database returns: healthy again, consumptions succeed', async () => {
    expect(api.process.child.exitCode).toBeNull();
    expect(await healthOf(api.url)).toBe(200);
    expect(recovery.at(-1)?.outcome.kind).toBe('success');
    const next = await consumeOnce(api.url, 'pg_user_b', 'pg-after-recovery', 3);
    expect(next.outcome.kind).toBe('success');
  });

  it('leaves a ledger that matches what clients were told, and converges on retry', async () => {
    const sql = new pg.Pool({ connectionString: cluster!.url, max: 2 });
    try {
      expect(await outcomeMismatches(sql, attempts)).toEqual([]);
      expect(await retryUndecided(api.url, sql, attempts)).toEqual([]);
      expect(await auditDatabase(cluster!.url)).toMatchObject({ ok: true, usersChecked: 2 });
    } finally {
      await sql.end();
    }
  });
});
