import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../src/config.js';
import { ConsumeCreditsDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { tokenFor } from '../support/tokens.js';
import { codesOf } from '../support/errors.js';
import { send } from '../support/http.js';
import { balanceOf } from '../support/ledger.js';
import { userIdOf } from '../support/subjects.js';

const spend = (key: string) => ({ input: { amount: 1, feature: 'rate', idempotencyKey: key } });

describe('per-user mutation rate limit', () => {
  let server: TestServer;
  beforeAll(async () => {
    // A burst of 3, then one mutation a minute: nothing in this file waits long enough to earn another.
    server = await startTestServer({ env: { RATE_LIMIT_MUTATIONS_PER_MINUTE: '1', RATE_LIMIT_MUTATION_BURST: '3', STARTER_CREDITS: '100' } });
  });
  afterAll(() => server.close());

  it('answers the mutation past the burst with RATE_LIMITED, 429 and Retry-After, and writes nothing', async () => {
    const alice = server.as('user_rate_alice');
    for (const key of ['a1', 'a2', 'a3']) {
      const res = await alice.execute(ConsumeCreditsDocument, spend(key));
      expect(res.errors).toBeUndefined();
    }
    const response = await send(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('user_rate_alice')}` },
      body: JSON.stringify({ query: 'mutation($input: ConsumeCreditsInput!) { consumeCredits(input: $input) { id } }', variables: spend('a4') }),
    });
    expect(response.status).toBe(429);
    const body = JSON.parse(response.text) as { data?: unknown; errors: { extensions: { code: string; retryAfterSeconds: number } }[] };
    expect(body.data).toBeUndefined();
    expect(body.errors[0]!.extensions.code).toBe('RATE_LIMITED');
    const retryAfter = body.errors[0]!.extensions.retryAfterSeconds;
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(response.headers.get('retry-after')).toBe(String(retryAfter));

    const { rows } = await server.sql.query(
      `select idempotency_key from credit_transactions t join users u on u.id = t.user_id
       where u.clerk_user_id = 'user_rate_alice' and t.type = 'consumption' order by idempotency_key`,
    );
    expect(rows.map((row) => row.idempotency_key)).toEqual(['a1', 'a2', 'a3']);
    expect(await balanceOf(server, await userIdOf(server, 'user_rate_alice'))).toBe(97);
  });

  it('keeps answering queries for a user who is out of mutations', async () => {
    const res = await server.as('user_rate_alice').raw({ query: '{ creditBalance }' });
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ creditBalance: 97 });
  });

  it('keeps one bucket per user: another user is not affected', async () => {
    const res = await server.as('user_rate_bob').execute(ConsumeCreditsDocument, spend('b1'));
    expect(res.errors).toBeUndefined();
    expect(await balanceOf(server, await userIdOf(server, 'user_rate_bob'))).toBe(99);
  });

  it('charges each aliased mutation field: aliases do not multiply the allowance', async () => {
    const carol = server.as('user_rate_carol');
    const three = `mutation { ${['c1', 'c2', 'c3'].map((key) => `${key}: consumeCredits(input: { amount: 1, feature: "rate", idempotencyKey: "${key}" }) { id }`).join(' ')} }`;
    const first = await carol.raw({ query: three });
    expect(first.errors).toBeUndefined();
    const next = await carol.execute(ConsumeCreditsDocument, spend('c4'));
    expect(codesOf(next)).toEqual(['RATE_LIMITED']);
    expect(await balanceOf(server, await userIdOf(server, 'user_rate_carol'))).toBe(97);
  });

  it('is configured from the environment: generous by default, off in tests unless asked for, validated', () => {
    const base = { DATABASE_URL: 'postgres://localhost/tally', AUTH_JWT_SECRET: 'x'.repeat(32) };
    expect(loadConfig({ ...base, NODE_ENV: 'production' }).rateLimit).toEqual({ mutationsPerMinute: 600, burst: 120 });
    expect(loadConfig({ ...base, NODE_ENV: 'test' }).rateLimit.mutationsPerMinute).toBe(0);
    expect(loadConfig({ ...base, RATE_LIMIT_MUTATIONS_PER_MINUTE: '0' }).rateLimit.mutationsPerMinute).toBe(0);
    expect(() => loadConfig({ ...base, RATE_LIMIT_MUTATIONS_PER_MINUTE: 'lots' })).toThrow(/RATE_LIMIT_MUTATIONS_PER_MINUTE/);
    expect(() => loadConfig({ ...base, RATE_LIMIT_MUTATION_BURST: '0' })).toThrow(/RATE_LIMIT_MUTATION_BURST/);
  });
});
