import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { getIntrospectionQuery, print, type DocumentNode } from 'graphql';
import * as operations from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { statementRecorder } from '../support/statements.js';
import { codesOf } from '../support/errors.js';
import { balanceOf, writeCounts } from '../support/ledger.js';
import { userIdOf } from '../support/subjects.js';

const CONSUME = 'consumeCredits(input: $input) { id balanceAfter }';
const aliasBomb = (count: number) =>
  `mutation Bomb($input: ConsumeCreditsInput!) { ${Array.from({ length: count }, (_, i) => `a${i}: ${CONSUME}`).join(' ')} }`;

describe('GraphQL operation limits', () => {
  let server: TestServer;
  const statements = statementRecorder();
  const alice = 'user_limits_alice';
  let aliceId: string;

  beforeAll(async () => {
    server = await startTestServer({ env: { STARTER_CREDITS: '5000' }, onQuery: statements.onQuery });
    aliceId = await userIdOf(server, alice);
  });
  afterAll(() => server.close());

  it('refuses an alias bomb of 1,000 consumeCredits while parsing, before any ledger SQL', async () => {
    const rowsBefore = (await writeCounts(server)).transactions;
    const input = { amount: 1, feature: 'bomb', idempotencyKey: 'bomb-1' };
    const baseline = await statements.during(() => server.as(alice).raw({ query: '{ __typename }' }));
    const bomb = await statements.during(() => server.as(alice).raw({ query: aliasBomb(1000), variables: { input } }));

    expect(bomb.result.status).toBe(400);
    expect(bomb.result.data ?? null).toBeNull();
    // 1,000 aliases are some 8,000 tokens: the parser gives up at 1,000, before validation even starts.
    expect(codesOf(bomb.result)[0]).toBe('GRAPHQL_PARSE_FAILED');
    expect(bomb.result.errors?.[0]?.message).toMatch(/tokens/i);
    // Authenticating the caller is all the SQL there was (none once the viewer is known): as a request that selects nothing.
    expect(bomb.sql).toEqual(baseline.sql);
    expect(bomb.sql.join('\n')).not.toMatch(/credit_transactions/);
    expect((await writeCounts(server)).transactions).toBe(rowsBefore);
    expect(await balanceOf(server, aliceId)).toBe(5000);
  });

  it('refuses 11 aliased mutations (the limit is 10) at validation, naming the alias limit', async () => {
    const rowsBefore = (await writeCounts(server)).transactions;
    const input = { amount: 1, feature: 'bomb', idempotencyKey: 'bomb-11' };
    const baseline = await statements.during(() => server.as(alice).raw({ query: '{ __typename }' }));
    const eleven = await statements.during(() => server.as(alice).raw({ query: aliasBomb(11), variables: { input } }));
    expect(eleven.result.status).toBe(400);
    expect(codesOf(eleven.result)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(eleven.result.errors?.[0]?.message).toMatch(/alias/i);
    expect(eleven.sql).toEqual(baseline.sql);
    expect((await writeCounts(server)).transactions).toBe(rowsBefore);
    expect(await balanceOf(server, aliceId)).toBe(5000);
  });

  it('allows 10 aliases', async () => {
    const res = await server.as(alice).raw({ query: aliasBomb(10), variables: { input: { amount: 1, feature: 'ten', idempotencyKey: 'ten-aliases' } } });
    expect(res.errors).toBeUndefined();
    // One idempotency key: the first alias spends, the other nine replay it.
    expect(new Set(Object.values(res.data ?? {}).map((row) => (row as { id: string }).id)).size).toBe(1);
    expect(await balanceOf(server, aliceId)).toBe(4999);
  });

  it('refuses a query nested deeper than 8 levels', async () => {
    const res = await server.as(alice).raw({
      query: '{ me { workshops { edges { node { creditTransactions { workshop { creditTransactions { workshop { id } } } } } } } } }',
    });
    expect(res.status).toBe(400);
    expect(codesOf(res)[0]).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.errors?.[0]?.message).toMatch(/depth/i);
  });

  it('refuses a document of more than 1,000 tokens', async () => {
    const fields = (count: number) => `{ ${Array.from({ length: count }, () => 'creditBalance').join(' ')} }`;
    const res = await server.as(alice).raw({ query: fields(999) });
    expect(res.status).toBe(400);
    expect(res.data ?? null).toBeNull();
    expect(codesOf(res)[0]).toBe('GRAPHQL_PARSE_FAILED');
    expect(res.errors?.[0]?.message).toMatch(/tokens/i);
    // 600 tokens (eight times our longest operation) pass.
    const long = await server.as(alice).raw({ query: fields(598) });
    expect(long.errors).toBeUndefined();
    expect(long.data).toEqual({ creditBalance: await balanceOf(server, aliceId) });
  });

  it('refuses more than 20 directives', async () => {
    const fields = Array.from({ length: 21 }, () => 'creditBalance @include(if: true)').join(' ');
    const res = await server.as(alice).raw({ query: `{ ${fields} }` });
    expect(res.status).toBe(400);
    expect(codesOf(res)[0]).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.errors?.[0]?.message).toMatch(/directive/i);
  });

  it('refuses an operation whose estimated cost is above the limit (three full pages in one request)', async () => {
    const page = (field: string) =>
      `${field}: creditHistory(first: 100) { edges { cursor node { id type status amount balanceAfter description feature idempotencyKey stripeSessionId metadata createdAt workshop { id title status creditConsumedAt createdAt } } } }`;
    const res = await server.as(alice).raw({ query: `{ ${page('p1')} ${page('p2')} ${page('p3')} }` });
    expect(res.status).toBe(400);
    expect(codesOf(res)[0]).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(res.errors?.[0]?.message).toMatch(/cost/i);
  });

  it('allows a 100-row history page with every field and each row\'s workshop', async () => {
    const bob = 'user_limits_bob';
    const workshopIds: string[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await server.as(bob).raw({ query: 'mutation($t: String!) { createWorkshop(input: { title: $t }) { id } }', variables: { t: `W${i}` } });
      workshopIds.push((res.data as { createWorkshop: { id: string } }).createWorkshop.id);
    }
    for (let i = 0; i < 100; i++) {
      const res = await server.as(bob).execute(operations.ConsumeCreditsDocument, {
        input: { amount: 1, feature: 'page', idempotencyKey: `row-${i}`, workshopId: workshopIds[i % 10] },
      });
      expect(res.errors).toBeUndefined();
    }
    const query = `{ creditHistory(first: 100) { edges { cursor node { id type status amount balanceAfter description feature idempotencyKey
      stripeSessionId metadata createdAt workshop { id title status creditConsumedAt createdAt } } } pageInfo { hasNextPage endCursor } }
      me { creditTransactions(first: 50) { edges { node { id amount workshop { id title } } } } } }`;
    const res = await server.as(bob).raw({ query });
    expect(res.errors).toBeUndefined();
    const data = res.data as {
      creditHistory: { edges: { node: { workshop: { id: string } | null } }[] };
      me: { creditTransactions: { edges: { node: { workshop: { id: string } | null } }[] } };
    };
    expect(data.creditHistory.edges).toHaveLength(100);
    expect(data.creditHistory.edges.every((edge) => workshopIds.includes(edge.node.workshop?.id ?? ''))).toBe(true);
    expect(data.me.creditTransactions.edges).toHaveLength(50);
  });

  it('lets every operation in test/operations through validation', async () => {
    const documents = Object.entries(operations).filter((entry): entry is [string, DocumentNode] => entry[0].endsWith('Document'));
    expect(documents.length).toBeGreaterThan(10);
    for (const [name, document] of documents) {
      // Without variables, operations that need them fail later, at variable coercion (BAD_USER_INPUT), which
      // still shows they got past parsing and validation.
      const res = await server.as(alice).raw({ query: print(document) });
      const codes = codesOf(res);
      expect({ name, codes: codes.filter((code) => code === 'GRAPHQL_VALIDATION_FAILED' || code === 'GRAPHQL_PARSE_FAILED') }).toEqual({ name, codes: [] });
    }
  });

  it('lets the full introspection query through outside production (Apollo Sandbox needs it)', async () => {
    const res = await server.as().raw({ query: getIntrospectionQuery() });
    expect(res.errors).toBeUndefined();
    expect((res.data as { __schema: { types: unknown[] } }).__schema.types.length).toBeGreaterThan(20);
  });
});
