import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { print } from 'graphql';
import type pg from 'pg';
import { ConsumeCreditsDocument } from '../generated/graphql.js';
import { consumeOnce, LOAD_FEATURE, provision, rowsByKey } from '../support/consume-load.js';
import { createTestDatabase, sqlPool } from '../support/database.js';
import { stopAllProcesses } from '../support/processes.js';
import { healthOf, spawnApi, type SpawnedApi } from '../support/spawned-api.js';
import { tokenFor } from '../support/tokens.js';
import { auditDatabase } from '../support/ledger.js';

const STARTER_CREDITS = 10_000;
const AMOUNT = 7;
/** Milliseconds between the request leaving and the client hanging up: at once, and at points inside the work. */
const HANG_UP_AFTER = [0, 0, 0, 1, 1, 2, 3, 5, 8, 13, 21, 34];

/**
 * Sends consumeCredits and closes the connection `afterMs` after the request is on the wire, or, with
 * `afterMs: 'mid-body'`, after only half of the body has been sent.
 */
async function consumeAndHangUp(
  url: string,
  subject: string,
  idempotencyKey: string,
  afterMs: number | 'mid-body',
): Promise<'hung up' | 'answered first'> {
  const body = JSON.stringify({ query: print(ConsumeCreditsDocument), variables: { input: { amount: AMOUNT, feature: LOAD_FEATURE, idempotencyKey } } });
  const token = await tokenFor(subject);
  return new Promise((resolve) => {
    const request = http.request(`${url}/graphql`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${token}` },
    });
    let answered = false;
    request.on('response', (response) => {
      answered = true;
      response.resume();
    });
    request.on('error', () => undefined);
    request.on('close', () => resolve(answered ? 'answered first' : 'hung up'));
    if (afterMs === 'mid-body') {
      request.write(body.slice(0, body.length >> 1), () => setTimeout(() => request.destroy(), 20));
      return;
    }
    request.on('finish', () => setTimeout(() => request.destroy(), afterMs));
    request.end(body);
  });
}

describe('a client that hangs up in the middle of consumeCredits', () => {
  let databaseUrl: string;
  let sql: pg.Pool;
  let api: SpawnedApi;
  const subject = 'disconnect_user';
  const keys = HANG_UP_AFTER.map((_, i) => `hangup-${i}`);
  const partialKeys = ['partial-0', 'partial-1'];
  let hangUps: string[] = [];

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    sql = sqlPool(databaseUrl);
    api = await spawnApi({ databaseUrl, env: { STARTER_CREDITS: String(STARTER_CREDITS) } });
    await provision(api.url, subject);
    hangUps = await Promise.all([
      ...HANG_UP_AFTER.map((afterMs, i) => consumeAndHangUp(api.url, subject, keys[i]!, afterMs)),
      ...partialKeys.map((key) => consumeAndHangUp(api.url, subject, key, 'mid-body')),
    ]);
  }, 120_000);

  afterAll(async () => {
    await stopAllProcesses();
    await sql?.end();
  });

  it('actually hung up on most requests before an answer came', () => {
    expect(hangUps.filter((h) => h === 'hung up').length).toBeGreaterThanOrEqual(HANG_UP_AFTER.length / 2);
  });

  it('writes nothing for a request whose body never fully arrived', async () => {
    const rows = await rowsByKey(sql, partialKeys);
    expect([...rows.values()].map((r) => r.length)).toEqual([0, 0]);
  });

  it('leaves the server running and healthy, answering the next request', async () => {
    expect(api.process.child.exitCode).toBeNull();
    expect(await healthOf(api.url)).toBe(200);
    const next = await consumeOnce(api.url, subject, 'after-hangups', AMOUNT);
    expect(next.outcome.kind).toBe('success');
  });

  it('keeps the ledger consistent: at most one row per key, audit clean', async () => {
    const rows = await rowsByKey(sql, [...keys, ...partialKeys]);
    expect([...rows.values()].filter((r) => r.length > 1)).toEqual([]);
    expect(await auditDatabase(databaseUrl)).toMatchObject({ ok: true, usersChecked: 1 });
  });

  it('answers a retry of each abandoned request with exactly one row, charged once', async () => {
    const abandoned = [...keys, ...partialKeys];
    const before = await rowsByKey(sql, abandoned);
    const retries = await Promise.all(abandoned.map((key) => consumeOnce(api.url, subject, key, AMOUNT)));
    const after = await rowsByKey(sql, abandoned);
    for (const [i, retry] of retries.entries()) {
      const key = abandoned[i]!;
      expect(retry.outcome.kind).toBe('success');
      const id = retry.outcome.kind === 'success' ? retry.outcome.id : undefined;
      expect(after.get(key)!.map((r) => r.id)).toEqual([id]);
      const earlier = before.get(key)!;
      if (earlier.length > 0) expect(earlier[0]!.id).toBe(id);
    }
    const { rows } = await sql.query<{ credit_balance: number }>('select a.credit_balance from users u join accounts a on a.id = u.id where u.clerk_user_id = $1', [subject]);
    expect(rows[0]!.credit_balance).toBe(STARTER_CREDITS - AMOUNT * (abandoned.length + 1));
    expect((await auditDatabase(databaseUrl)).ok).toBe(true);
  });
});
