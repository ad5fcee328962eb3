import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CreateWorkshopDocument, ReserveCreditsDocument } from '../generated/graphql.js';
import { errorOf } from '../support/errors.js';
import { balanceOf, grantAsAdmin, writeCounts } from '../support/ledger.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

const CONSUME = 'mutation($input: ConsumeCreditsInput!) { consumeCredits(input: $input) { id } }';
const cursor = (position: unknown[]) => Buffer.from(JSON.stringify(position)).toString('base64url');

/** Each of these once answered INTERNAL_SERVER_ERROR; each is a clear BAD_USER_INPUT now, and writes nothing. */
describe('malformed input is BAD_USER_INPUT, never INTERNAL_SERVER_ERROR', () => {
  let server: TestServer;
  let sub: string;
  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB } });
    sub = uniqueSub('hostile');
    await grantAsAdmin(server, await userIdOf(server, sub), 100);
  });
  afterAll(() => server.close());

  const consume = (input: Record<string, unknown>) =>
    server.as(sub).raw({ query: CONSUME, variables: { input: { amount: 1, feature: 'chat', idempotencyKey: `k-${Math.random()}`, ...input } } });

  it.each([
    ['a NUL in a metadata value', { metadata: { k: 'a\u0000b' } }, 'input.metadata.k'],
    ['a NUL in a metadata key', { metadata: { 'a\u0000b': 1 } }, 'input.metadata (a key)'],
    ['a lone surrogate in metadata', { metadata: { k: 'x\ud800y' } }, 'input.metadata.k'],
    ['a lone surrogate in the description', { description: 'half an emoji \udc00' }, 'input.description'],
    ['a NUL in the idempotency key', { idempotencyKey: 'a\u0000b' }, 'input.idempotencyKey'],
  ])('%s', async (_label, input, field) => {
    const before = await writeCounts(server);
    const res = await consume(input);
    expect(errorOf(res)).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(res.status).toBe(400);
    expect(await writeCounts(server)).toEqual(before);
  });

  it('refuses metadata nested deeper than 32 levels, however small', async () => {
    // Written as text: JSON.stringify itself runs out of stack on the deepest of these.
    const withMetadata = (depth: number) =>
      `{"query":${JSON.stringify(CONSUME)},"variables":{"input":{"amount":1,"feature":"chat","idempotencyKey":"deep-${depth}-${Math.random()}",` +
      `"metadata":{"a":${'['.repeat(depth - 1)}1${']'.repeat(depth - 1)}}}}}`;
    for (const depth of [33, 8_000, 20_000]) {
      const before = await writeCounts(server);
      const res = await server.as(sub).raw(withMetadata(depth));
      expect(errorOf(res)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.metadata' });
      expect(await writeCounts(server)).toEqual(before);
    }
    const res = await server.as(sub).raw(withMetadata(32));
    expect(res.errors).toBeUndefined();
  });

  it('answers a malformed persisted-query extension with BAD_REQUEST, not INTERNAL_SERVER_ERROR', async () => {
    for (const body of [
      { extensions: { persistedQuery: 'x' } },
      { extensions: { persistedQuery: { version: 2, sha256Hash: 'abc' } } },
      { query: '{ __typename }', extensions: { persistedQuery: { version: 1, sha256Hash: 'abc' } } },
    ]) {
      const res = await server.as(sub).raw(body as never);
      expect(res.status).toBe(400);
      expect(res.errors?.map((error) => error.extensions?.code)).not.toContain('INTERNAL_SERVER_ERROR');
    }
  });

  it('refuses a NUL written into the query itself', async () => {
    const res = await server.as(sub).raw({ query: 'mutation { consumeCredits(input: { amount: 1, feature: "chat", idempotencyKey: "a\\u0000b" }) { id } }' });
    expect(errorOf(res)?.code).toBe('BAD_USER_INPUT');
  });

  it.each(['0000-01-01T00:00:00Z', '10000-01-01T00:00:00Z', '-000001-01-01T00:00:00Z', '2026-13-01T00:00:00Z'])(
    'refuses creditBalanceAt(time: %s): outside the years 1 to 9999 or not a date',
    async (time) => {
      const res = await server.as(sub).raw({ query: 'query($t: DateTime!) { creditBalanceAt(time: $t) }', variables: { t: time } });
      expect(errorOf(res)?.code).toBe('BAD_USER_INPUT');
    },
  );

  it('answers the edges of the range', async () => {
    for (const time of ['0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z']) {
      const res = await server.as(sub).raw({ query: 'query($t: DateTime!) { creditBalanceAt(time: $t) }', variables: { t: time } });
      expect(res.errors).toBeUndefined();
    }
  });

  it.each([
    ['a history position past the largest bigint', '{ creditHistory(first: 1, after: $c) { edges { node { id } } } }', cursor(['ctx', '99999999999999999999'])],
    ['a history position that is a float', '{ creditHistory(first: 1, after: $c) { edges { node { id } } } }', cursor(['ctx', 1e25])],
    ['a workshop position in the year 0', '{ workshops(first: 1, after: $c) { edges { node { id } } } }', cursor(['ws', '0000-01-01 00:00:00+00', 'ws_abc'])],
    ['a workshop position on a day its month lacks (JavaScript takes it)', '{ workshops(first: 1, after: $c) { edges { node { id } } } }', cursor(['ws', '0001-02-29T00:00:00Z', 'ws_abc'])],
    ['a workshop position on April 31', '{ workshops(first: 1, after: $c) { edges { node { id } } } }', cursor(['ws', '2026-04-31 00:00:00+00', 'ws_abc'])],
    ['a workshop position with an offset PostgreSQL does not take', '{ workshops(first: 1, after: $c) { edges { node { id } } } }', cursor(['ws', '2026-01-01 00:00:00+16', 'ws_abc'])],
    ['a workshop position that is not a workshop id', '{ workshops(first: 1, after: $c) { edges { node { id } } } }', cursor(['ws', '2026-01-01 00:00:00+00', "x' or 1=1"])],
  ])('refuses %s in a cursor', async (_label, selection, after) => {
    const res = await server.as(sub).raw({ query: `query($c: String) ${selection}`, variables: { c: after } });
    expect(errorOf(res)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
  });

  it('refuses a grant that would take a balance past the largest integer, and keeps the balance', async () => {
    const rich = uniqueSub('rich');
    const userId = await userIdOf(server, rich);
    await grantAsAdmin(server, userId, 1_000_000);
    // Near the top of the column (set up directly; granting 2,000 times would only be slow).
    await server.sql.query('update accounts set credit_balance = 2147000000 where id = $1', [userId]);
    await server.sql.query(`update credit_transactions set amount = 2147000000, balance_after = 2147000000 where account_id = $1`, [userId]);
    const res = await server.as(ADMIN_SUB).raw({
      query: 'mutation($i: GrantCreditsInput!) { grantCredits(input: $i) { id } }',
      variables: { i: { userId, amount: 1_000_000, reason: 'too much', idempotencyKey: 'overflow' } },
    });
    expect(errorOf(res)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'amount' });
    expect(await balanceOf(server, userId)).toBe(2_147_000_000);
  });
});

describe('what one user can pile up for free is capped', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB, MAX_OPEN_RESERVATIONS: '3', MAX_WORKSHOPS: '2' } });
  });
  afterAll(() => server.close());

  it('open reservations: the cap holds under concurrent requests, LIMIT_EXCEEDED names it, a resolved hold frees a place', async () => {
    const sub = uniqueSub('holds_cap');
    await grantAsAdmin(server, await userIdOf(server, sub), 100);
    const reserve = (key: string) =>
      server.as(sub).execute(ReserveCreditsDocument, { input: { amount: 1, feature: 'llm.run', idempotencyKey: key, ttlSeconds: 3600 } });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => reserve(`cap-${i}`)));
    const held = results.filter((res) => res.data?.reserveCredits);
    expect(held).toHaveLength(3);
    for (const refused of results.filter((res) => !res.data?.reserveCredits)) {
      expect(errorOf(refused)).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 3, resource: 'open reservations per account' });
    }
    const release = await server.as(sub).raw({ query: 'mutation($id: ID!) { releaseReservation(id: $id) { status } }', variables: { id: held[0]!.data!.reserveCredits.id } });
    expect(release.errors).toBeUndefined();
    expect((await reserve('cap-after-release')).data?.reserveCredits.status).toBe('HELD');
  });

  it('workshops: the cap holds under concurrent requests', async () => {
    const sub = uniqueSub('workshops_cap');
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => server.as(sub).execute(CreateWorkshopDocument, { input: { title: `W${i}` } })));
    expect(results.filter((res) => res.data?.createWorkshop)).toHaveLength(2);
    for (const refused of results.filter((res) => !res.data?.createWorkshop)) {
      expect(errorOf(refused)).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 2 });
    }
  });
});
