import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { errorOf } from '../support/errors.js';
import { lockUserRow, sendAndHangUpLater, waitingStatements } from '../support/hang-up.js';
import { balanceOf, grantAsAdmin, ledgerRows } from '../support/ledger.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

const CONSUME = 'mutation($input: ConsumeCreditsInput!) { consumeCredits(input: $input) { id } }';

async function until(check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('statement_timeout: no statement runs away', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB, DATABASE_STATEMENT_TIMEOUT_MS: '400' } });
  });
  afterAll(() => server.close());

  it('stops a statement stuck behind a lock after the timeout: SERVICE_UNAVAILABLE, nothing written', async () => {
    const sub = uniqueSub('timeout');
    const userId = await userIdOf(server, sub);
    await grantAsAdmin(server, userId, 5);
    const lock = await lockUserRow(server.sql, userId);
    try {
      const started = Date.now();
      const res = await server.as(sub).raw({ query: CONSUME, variables: { input: { amount: 1, feature: 'stuck', idempotencyKey: 'stuck-1' } } });
      expect(errorOf(res)?.code).toBe('SERVICE_UNAVAILABLE');
      // Answered at the timeout, not when the lock went away (it is still held here).
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await lock.release();
    }
    expect((await ledgerRows(server, userId)).filter((row) => row.idempotency_key === 'stuck-1')).toEqual([]);
    expect(await balanceOf(server, userId)).toBe(5);
  });
});

describe('a client that goes away', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB, DATABASE_STATEMENT_TIMEOUT_MS: '60000' } });
  });
  afterAll(() => server.close());

  it.each([
    ['the hot path (a consumption)', CONSUME, { input: { amount: 1, feature: 'gone', idempotencyKey: 'gone-1' } }, '%update accounts set credit_balance%'],
    ['a statement through the ORM (onboarding)', 'mutation { completeOnboarding { id } }', {}, '%update users set onboarding_complete%'],
  ])('has its running statement cancelled when it hangs up: %s', async (_label, query, variables, statement) => {
    const sub = uniqueSub('gone');
    const userId = await userIdOf(server, sub);
    await grantAsAdmin(server, userId, 5);
    const lock = await lockUserRow(server.sql, userId);
    try {
      const hangUp = await sendAndHangUpLater(server.url, sub, query, variables);
      await until(async () => (await waitingStatements(server.sql, statement)) === 1);
      hangUp();
      // The statement stops waiting while the lock is still held: it was cancelled, not left to run.
      await until(async () => (await waitingStatements(server.sql, statement)) === 0);
    } finally {
      await lock.release();
    }
    expect((await ledgerRows(server, userId)).filter((row) => row.idempotency_key === 'gone-1')).toEqual([]);
    expect(await balanceOf(server, userId)).toBe(5);
    const { rows } = await server.sql.query('select onboarding_complete from users where id = $1', [userId]);
    expect(rows[0].onboarding_complete).toBe(false);
  });
});
