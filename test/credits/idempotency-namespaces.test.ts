import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConsumeCreditsDocument, GrantCreditsDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { errorOf } from '../support/errors.js';
import { grantAsAdmin } from '../support/ledger.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/** Keys a user chooses and keys an admin or Tally itself writes share one unique index, each in its own namespace. */
describe('idempotency key namespaces', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB, STARTER_CREDITS: '5' } });
  });
  afterAll(() => server.close());

  it("lets a user spend with the same key an admin granted with, and replays each on its own", async () => {
    const sub = uniqueSub('ns');
    const userId = await userIdOf(server, sub);
    const grant = await grantAsAdmin(server, userId, 10, 'k1');
    expect(grant.idempotencyKey).toBe('grant:k1');
    const spend = await server.as(sub).execute(ConsumeCreditsDocument, { input: { amount: 2, feature: 'chat', idempotencyKey: 'k1' } });
    expect(spend.errors).toBeUndefined();
    expect(spend.data?.consumeCredits).toMatchObject({ amount: -2, balanceAfter: 13, idempotencyKey: 'k1' });
    expect((await grantAsAdmin(server, userId, 10, 'k1')).id).toBe(grant.id);
    const { rows } = await server.sql.query('select idempotency_key from credit_transactions where account_id = $1 order by posting_seq', [userId]);
    expect(rows.map((r) => r.idempotency_key)).toEqual(['system:starter-credits', 'grant:k1', 'k1']);
  });

  it('lets a user use the key "starter-credits" for a spend', async () => {
    const sub = uniqueSub('starter');
    const res = await server.as(sub).execute(ConsumeCreditsDocument, { input: { amount: 1, feature: 'chat', idempotencyKey: 'starter-credits' } });
    expect(res.data?.consumeCredits).toMatchObject({ amount: -1, balanceAfter: 4 });
  });

  it.each(['grant:x', 'allowance:2030-01', 'system:starter-credits'])('refuses the reserved client key %s', async (key) => {
    const sub = uniqueSub('reserved');
    const res = await server.as(sub).execute(ConsumeCreditsDocument, { input: { amount: 1, feature: 'chat', idempotencyKey: key } });
    expect(errorOf(res)?.code).toBe('BAD_USER_INPUT');
    expect(res.errors?.[0]?.extensions?.field).toBe('input.idempotencyKey');
  });

  it('takes any admin grant key, prefixes included, without touching the user namespace', async () => {
    const userId = await userIdOf(server, uniqueSub('admin-key'));
    const res = await server.as(ADMIN_SUB).execute(GrantCreditsDocument, {
      input: { userId, amount: 1, reason: 'odd key', idempotencyKey: 'allowance:2030-01' },
    });
    expect(res.data?.grantCredits.idempotencyKey).toBe('grant:allowance:2030-01');
  });
});
