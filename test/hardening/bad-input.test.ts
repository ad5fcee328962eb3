import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ApiWorkshopDetailDocument,
  AuditLedgerDocument,
  ConsumeCreditsDocument,
  ConsumeWorkshopCreditDocument,
  CreateWorkshopDocument,
  CreditHistoryDocument,
  GrantCreditsDocument,
  MyTransactionsDocument,
  MyWorkshopsDocument,
  UserByIdDocument,
  WorkshopsDocument,
  type ConsumeCreditsInput,
} from '../generated/graphql.js';
import { startTestServer, type GraphQLResponse, type TestServer } from '../support/server.js';
import { errorOf } from '../support/errors.js';
import { creditProblems, grantAsAdmin, writeCounts } from '../support/ledger.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/** Every bad input is BAD_USER_INPUT naming the field, and leaves every table as it was. */
describe('bad input', () => {
  let server: TestServer;
  const sub = uniqueSub('bad');
  let userId: string;
  let workshopId: string;
  let workshopCursor: string;
  let historyCursor: string;

  const consume = (input: Partial<ConsumeCreditsInput>) =>
    server.as(sub).execute(ConsumeCreditsDocument, { input: { amount: 1, feature: 'chat', idempotencyKey: `key-${Math.random()}`, ...input } });
  const grant = (input: Partial<{ userId: string; amount: number; reason: string; idempotencyKey: string }>) =>
    server.as(ADMIN_SUB).execute(GrantCreditsDocument, { input: { userId, amount: 1, reason: 'r', idempotencyKey: `g-${Math.random()}`, ...input } });

  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB } });
    userId = await userIdOf(server, sub);
    await grantAsAdmin(server, userId, 1_000_000);
    await grantAsAdmin(server, userId, 100);
    const created = await server.as(sub).execute(CreateWorkshopDocument, { input: { title: 'Existing' } });
    workshopId = created.data!.createWorkshop.id;
    await server.as(sub).execute(CreateWorkshopDocument, { input: { title: 'Second' } });
    workshopCursor = (await server.as(sub).execute(WorkshopsDocument, { first: 1 })).data!.workshops.pageInfo.endCursor!;
    historyCursor = (await server.as(sub).execute(CreditHistoryDocument, { first: 1 })).data!.creditHistory.pageInfo.endCursor!;
  });
  afterAll(() => server.close());

  const cases: [string, () => Promise<GraphQLResponse<unknown>>, string][] = [
    ['consumeCredits amount 0', () => consume({ amount: 0 }), 'input.amount'],
    ['consumeCredits amount -1', () => consume({ amount: -1 }), 'input.amount'],
    ['consumeCredits amount 1000001', () => consume({ amount: 1_000_001 }), 'input.amount'],
    ['feature ""', () => consume({ feature: '' }), 'input.feature'],
    ['feature "UPPER"', () => consume({ feature: 'UPPER' }), 'input.feature'],
    ['feature "has space"', () => consume({ feature: 'has space' }), 'input.feature'],
    ['feature of 65 characters', () => consume({ feature: 'a'.repeat(65) }), 'input.feature'],
    ['feature "workshop" (reserved)', () => consume({ feature: 'workshop' }), 'input.feature'],
    ['empty idempotency key', () => consume({ idempotencyKey: '' }), 'input.idempotencyKey'],
    ['idempotency key of 256 characters', () => consume({ idempotencyKey: 'k'.repeat(256) }), 'input.idempotencyKey'],
    ['idempotency key with a control character', () => consume({ idempotencyKey: 'a\u0000b' }), 'input.idempotencyKey'],
    ['description of 501 characters', () => consume({ description: 'd'.repeat(501) }), 'input.description'],
    ['empty description', () => consume({ description: '   ' }), 'input.description'],
    ['consumeCredits workshopId of the wrong shape', () => consume({ workshopId: 'usr_abc123' }), 'input.workshopId'],
    ['metadata that is not an object', () => consume({ metadata: [1, 2] }), 'input.metadata'],
    ['metadata over 8 KiB', () => consume({ metadata: { blob: 'x'.repeat(9000) } }), 'input.metadata'],
    ['empty workshop title', () => server.as(sub).execute(CreateWorkshopDocument, { input: { title: '' } }), 'input.title'],
    ['blank workshop title', () => server.as(sub).execute(CreateWorkshopDocument, { input: { title: '   ' } }), 'input.title'],
    ['workshop title of 201 characters', () => server.as(sub).execute(CreateWorkshopDocument, { input: { title: 't'.repeat(201) } }), 'input.title'],
    ['empty grant reason', () => grant({ reason: '' }), 'input.reason'],
    ['grant reason of 501 characters', () => grant({ reason: 'r'.repeat(501) }), 'input.reason'],
    ['grant amount 0', () => grant({ amount: 0 }), 'input.amount'],
    ['grant amount 1000001', () => grant({ amount: 1_000_001 }), 'input.amount'],
    ['empty grant idempotency key', () => grant({ idempotencyKey: '' }), 'input.idempotencyKey'],
    ['grantCredits userId "ws_..."', () => grant({ userId: 'ws_abc123' }), 'input.userId'],
    ['creditHistory after "garbage"', () => server.as(sub).execute(CreditHistoryDocument, { after: 'garbage' }), 'after'],
    ['creditHistory after a workshops cursor', () => server.as(sub).execute(CreditHistoryDocument, { after: workshopCursor }), 'after'],
    ['workshops after a history cursor', () => server.as(sub).execute(WorkshopsDocument, { after: historyCursor }), 'after'],
    ['workshops after "garbage"', () => server.as(sub).execute(WorkshopsDocument, { after: 'garbage' }), 'after'],
    ['me.creditTransactions after "garbage"', () => server.as(sub).execute(MyTransactionsDocument, { after: 'garbage' }), 'after'],
    ['me.workshops after a history cursor', () => server.as(sub).execute(MyWorkshopsDocument, { after: historyCursor }), 'after'],
    ['creditHistory first 0', () => server.as(sub).execute(CreditHistoryDocument, { first: 0 }), 'first'],
    ['creditHistory first 101', () => server.as(sub).execute(CreditHistoryDocument, { first: 101 }), 'first'],
    ['workshops first 0', () => server.as(sub).execute(WorkshopsDocument, { first: 0 }), 'first'],
    ['workshops first 101', () => server.as(sub).execute(WorkshopsDocument, { first: 101 }), 'first'],
    ['me.creditTransactions first 101', () => server.as(sub).execute(MyTransactionsDocument, { first: 101 }), 'first'],
    ['me.workshops first 0', () => server.as(sub).execute(MyWorkshopsDocument, { first: 0 }), 'first'],
    ['creditHistory filter.workshopId "nope"', () => server.as(sub).execute(CreditHistoryDocument, { filter: { workshopId: 'nope' } }), 'filter.workshopId'],
    ['creditHistory filter.feature "BAD"', () => server.as(sub).execute(CreditHistoryDocument, { filter: { feature: 'BAD' } }), 'filter.feature'],
    [
      'creditHistory filter.to not after filter.from',
      () => server.as(sub).execute(CreditHistoryDocument, { filter: { from: '2026-01-02T00:00:00.000Z', to: '2026-01-01T00:00:00.000Z' } }),
      'filter.to',
    ],
    ['workshop(id: "nope")', () => server.as(sub).execute(ApiWorkshopDetailDocument, { id: 'nope' }), 'id'],
    ['consumeWorkshopCredit(workshopId: "usr_x")', () => server.as(sub).execute(ConsumeWorkshopCreditDocument, { workshopId: 'usr_x' }), 'workshopId'],
    ['user(id: "ws_...")', () => server.as(ADMIN_SUB).execute(UserByIdDocument, { id: 'ws_abc123' }), 'id'],
    ['auditLedger(userId: "nope")', () => server.as(ADMIN_SUB).execute(AuditLedgerDocument, { userId: 'nope' }), 'userId'],
  ];

  it.each(cases)('%s is BAD_USER_INPUT naming the field and writes nothing', async (_label, call, field) => {
    const before = await writeCounts(server);
    const res = await call();
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    expect(res.errors?.[0]?.message).toContain(field);
    expect(await writeCounts(server)).toEqual(before);
  });

  it.each([
    ['a fractional amount', { amount: 1.5 }],
    ['an amount beyond Int', { amount: 2 ** 31 }],
    ['a string amount', { amount: '1' as unknown as number }],
    ['a missing feature', { feature: undefined as unknown as string }],
  ])('rejects %s in GraphQL validation and writes nothing', async (_label, input) => {
    const before = await writeCounts(server);
    const res = await consume(input);
    expect(res.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    expect(res.data ?? null).toBeNull();
    expect(await writeCounts(server)).toEqual(before);
  });

  it('rejects a malformed query document without touching anything', async () => {
    const before = await writeCounts(server);
    const res = await server.as(sub).raw({ query: 'mutation { consumeCredits(input: { amount: 1 ' });
    expect(res.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    expect(res.status).toBe(400);
    expect(await writeCounts(server)).toEqual(before);
  });

  it('accepts the boundaries: amount 1 and 1,000,000, a 64-character feature, a 255-character key, a 200-character title', async () => {
    const small = await consume({ amount: 1, feature: 'f'.repeat(64), idempotencyKey: 'k'.repeat(255), description: 'd'.repeat(500) });
    expect(small.errors).toBeUndefined();
    expect(small.data?.consumeCredits).toMatchObject({ amount: -1, feature: 'f'.repeat(64), idempotencyKey: 'k'.repeat(255) });
    const large = await consume({ amount: 1_000_000 });
    expect(large.errors).toBeUndefined();
    expect(large.data?.consumeCredits.amount).toBe(-1_000_000);
    const title = await server.as(sub).execute(CreateWorkshopDocument, { input: { title: 't'.repeat(200) } });
    expect(title.data?.createWorkshop.title).toBe('t'.repeat(200));
    const history = await server.as(sub).execute(CreditHistoryDocument, { first: 100 });
    expect(history.errors).toBeUndefined();
    expect(await creditProblems(server, userId)).toEqual([]);
  });

  it('a workshop id of the right shape that does not exist is NOT_FOUND for a charge, and writes nothing', async () => {
    const before = await writeCounts(server);
    const res = await server.as(sub).execute(ConsumeWorkshopCreditDocument, { workshopId: 'ws_doesnotexist000' });
    expect(errorOf(res)?.code).toBe('NOT_FOUND');
    expect(await writeCounts(server)).toEqual(before);
    // The existing one is still chargeable afterwards.
    const ok = await server.as(sub).execute(ConsumeWorkshopCreditDocument, { workshopId });
    expect(ok.data?.consumeWorkshopCredit.workshop?.id).toBe(workshopId);
  });
});
