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
      `select idempotency_key from credit_transactions t join users u on u.id = t.account_id
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
    expect(loadConfig({ ...base, NODE_ENV: 'production' }).rateLimit).toEqual({
      mutationsPerMinute: 600,
      burst: 120,
      queriesPerMinute: 1200,
      queryBurst: 240,
      anonymousPerMinute: 300,
      anonymousBurst: 60,
    });
    expect(loadConfig({ ...base, NODE_ENV: 'test' }).rateLimit).toMatchObject({ mutationsPerMinute: 0, queriesPerMinute: 0, anonymousPerMinute: 0 });
    expect(() => loadConfig({ ...base, RATE_LIMIT_QUERIES_PER_MINUTE: '-1' })).toThrow(/RATE_LIMIT_QUERIES_PER_MINUTE/);
    expect(loadConfig({ ...base, RATE_LIMIT_MUTATIONS_PER_MINUTE: '0' }).rateLimit.mutationsPerMinute).toBe(0);
    expect(() => loadConfig({ ...base, RATE_LIMIT_MUTATIONS_PER_MINUTE: 'lots' })).toThrow(/RATE_LIMIT_MUTATIONS_PER_MINUTE/);
    expect(() => loadConfig({ ...base, RATE_LIMIT_MUTATION_BURST: '0' })).toThrow(/RATE_LIMIT_MUTATION_BURST/);
  });
});

describe('per-user query and per-address anonymous rate limits', () => {
  let server: TestServer;
  let direct: TestServer;
  const limits = {
    RATE_LIMIT_QUERIES_PER_MINUTE: '1',
    RATE_LIMIT_QUERY_BURST: '3',
    RATE_LIMIT_ANONYMOUS_PER_MINUTE: '1',
    RATE_LIMIT_ANONYMOUS_BURST: '2',
  };
  beforeAll(async () => {
    // Behind a proxy on loopback (as the test client is), X-Forwarded-For names the client.
    server = await startTestServer({ env: { ...limits, TRUST_PROXY: 'loopback' } });
    direct = await startTestServer({ env: limits });
  });
  afterAll(async () => {
    await server.close();
    await direct.close();
  });

  const query = (url: string, headers: Record<string, string> = {}) =>
    send(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query: '{ creditPacks { id } }' }) });

  const expectLimited = (response: Awaited<ReturnType<typeof send>>) => {
    expect(response.status).toBe(429);
    const body = JSON.parse(response.text) as { errors: { extensions: { code: string; retryAfterSeconds: number } }[] };
    expect(body.errors[0]!.extensions.code).toBe('RATE_LIMITED');
    expect(response.headers.get('retry-after')).toBe(String(body.errors[0]!.extensions.retryAfterSeconds));
  };

  it("limits a user's queries, not only mutations; other users keep theirs", async () => {
    const token = await tokenFor('user_rate_reader');
    for (let i = 0; i < 3; i++) expect((await query(server.url, { authorization: `Bearer ${token}` })).status).toBe(200);
    expectLimited(await query(server.url, { authorization: `Bearer ${token}` }));
    expect((await query(server.url, { authorization: `Bearer ${await tokenFor('user_rate_other_reader')}` })).status).toBe(200);
  });

  it('limits anonymous requests per client address, read through the trusted proxy', async () => {
    const from = (address: string) => ({ 'x-forwarded-for': address });
    expect((await query(server.url, from('203.0.113.7'))).status).toBe(200);
    expect((await query(server.url, from('203.0.113.7'))).status).toBe(200);
    expectLimited(await query(server.url, from('203.0.113.7')));
    expect((await query(server.url, from('203.0.113.8'))).status).toBe(200);
  });

  it('counts a token that does not verify against its address, so guessing tokens is limited too', async () => {
    const from = { 'x-forwarded-for': '198.51.100.9' };
    const bad = { ...from, authorization: `Bearer ${await tokenFor('user_rate_forger', {}, { secret: 'not-the-secret-not-the-secret-not-the-secret' })}` };
    const first = await query(server.url, bad);
    expect(first.status).toBe(401);
    expect((await query(server.url, bad)).status).toBe(401);
    expectLimited(await query(server.url, bad));
    expectLimited(await query(server.url, from));
  });

  it('ignores X-Forwarded-For without TRUST_PROXY: a client cannot pick its own address', async () => {
    expect((await query(direct.url, { 'x-forwarded-for': '192.0.2.1' })).status).toBe(200);
    expect((await query(direct.url, { 'x-forwarded-for': '192.0.2.2' })).status).toBe(200);
    expectLimited(await query(direct.url, { 'x-forwarded-for': '192.0.2.3' }));
  });
});

describe('TRUST_PROXY', () => {
  it.each([
    [undefined, false],
    ['false', false],
    ['true', true],
    ['2', 2],
    ['loopback, 10.0.0.0/8, fd00::/8', ['loopback', '10.0.0.0/8', 'fd00::/8']],
  ])('reads %s', (value, expected) => {
    expect(loadConfig({ TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  it.each(['everyone', '10.0.0.0/33', '300.1.1.1'])('refuses %s with a line naming the variable', (value) => {
    expect(() => loadConfig({ TRUST_PROXY: value })).toThrow(/TRUST_PROXY/);
  });
});
