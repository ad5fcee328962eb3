import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type pg from 'pg';
import { ConsumeLoad, consumeOnce, outcomeMismatches, provision, retryUndecided, rowsByKey, undecided } from '../support/consume-load.js';
import { createTestDatabase, sqlPool } from '../support/database.js';
import { stopAllProcesses, waitUntil } from '../support/processes.js';
import { healthOf, spawnApi, type SpawnedApi } from '../support/spawned-api.js';
import { auditDatabase } from '../support/ledger.js';

const STARTER_CREDITS = 1_000_000;

describe('the API process is SIGKILLed in the middle of a consumption load', () => {
  let databaseUrl: string;
  let sql: pg.Pool;
  let restarted: SpawnedApi;
  let killedBy: string | null = null;
  const attempts: Awaited<ReturnType<ConsumeLoad['stop']>> = [];

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    sql = sqlPool(databaseUrl);
    const env = { STARTER_CREDITS: String(STARTER_CREDITS) };
    const first = await spawnApi({ databaseUrl, env });
    for (const subject of ['kill_shared_a', 'kill_shared_b', 'kill_big_spender']) await provision(first.url, subject);

    // Two hot users with three clients each (row-lock contention), and two clients whose large spends run the
    // third user dry, so that some requests are refused with INSUFFICIENT_CREDITS while the others succeed.
    const load = new ConsumeLoad(first.url, 'kill', { stopOnNoAnswer: true }).start([
      ...Array.from({ length: 3 }, () => ({ subject: 'kill_shared_a', amount: 1 })),
      ...Array.from({ length: 3 }, () => ({ subject: 'kill_shared_b', amount: 2 })),
      ...Array.from({ length: 2 }, () => ({ subject: 'kill_big_spender', amount: 300_000 })),
    ]);
    await waitUntil(async () => load.count('success') >= 60 && load.count('error') >= 2 && load.inFlight >= 4, {
      timeoutMs: 45_000,
      what: 'a running consumption load with requests in flight',
      intervalMs: 5,
    });
    killedBy = (await first.kill()).signal;
    attempts.push(...(await load.stop()));

    restarted = await spawnApi({ databaseUrl, env });
  }, 120_000);

  afterAll(async () => {
    await stopAllProcesses();
    await sql?.end();
  });

  it('recorded a load with successes and refusals that ended with the kill', () => {
    expect(killedBy).toBe('SIGKILL');
    const kinds = attempts.map((a) => (a.outcome.kind === 'error' ? a.outcome.code : a.outcome.kind));
    expect(kinds.filter((k) => k === 'success').length).toBeGreaterThanOrEqual(60);
    expect(kinds).toContain('INSUFFICIENT_CREDITS');
    // Every client stops at its first unanswered request, so the load ended because the server died.
    expect(attempts.every((a) => a.outcome.kind !== 'error' || a.outcome.code === 'INSUFFICIENT_CREDITS')).toBe(true);
  });

  it('comes back on the same database with a clean ledger audit', async () => {
    expect(await healthOf(restarted.url)).toBe(200);
    const audit = await auditDatabase(databaseUrl);
    expect(audit).toMatchObject({ ok: true, driftedUserIds: [] });
    expect(audit.usersChecked).toBe(3);
  });

  it('holds every answered success (by id), nothing for a refusal, and at most one row for an unanswered request', async () => {
    expect(await outcomeMismatches(sql, attempts)).toEqual([]);
  });

  it('converges when the unanswered requests are retried with their keys after the restart', async () => {
    expect(undecided(attempts).every((a) => a.outcome.kind === 'no-answer')).toBe(true);
    expect(await retryUndecided(restarted.url, sql, attempts)).toEqual([]);
    // Retrying requests that were answered changes nothing either: the original row comes back.
    const answered = attempts.filter((a) => a.outcome.kind === 'success').slice(-20);
    const again = await Promise.all(answered.map((a) => consumeOnce(restarted.url, a.subject, a.idempotencyKey, a.amount)));
    expect(again.map((a) => a.outcome)).toEqual(answered.map((a) => a.outcome));
    const rows = await rowsByKey(sql, attempts.map((a) => a.idempotencyKey));
    expect([...rows.values()].filter((r) => r.length > 1)).toEqual([]);
    expect((await auditDatabase(databaseUrl)).ok).toBe(true);
    // Balances add up to exactly what the ledger says was spent.
    const spent = await sql.query<{ account_id: string; spent: number }>(
      `select account_id, -sum(amount)::int as spent from credit_transactions where type = 'consumption' group by account_id`,
    );
    const balances = await sql.query<{ id: string; credit_balance: number }>('select id, credit_balance from accounts');
    for (const user of balances.rows) {
      const used = spent.rows.find((r) => r.account_id === user.id)?.spent ?? 0;
      expect(user.credit_balance).toBe(STARTER_CREDITS - used);
    }
  });
});
