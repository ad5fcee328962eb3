import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ApiUserDetailDocument,
  ApiWorkshopDetailDocument,
  ConsumeCreditsDocument,
  ConsumeWorkshopCreditDocument,
  CreateWorkshopDocument,
  CreditHistoryDocument,
  MyTransactionsDocument,
  MyWorkshopsDocument,
  WorkshopsDocument,
  type CreditHistoryFilter,
  type CreditHistoryQuery,
  type WorkshopsQuery,
} from '../generated/graphql.js';
import { startTestServer, type GraphQLResponse, type TestServer } from '../support/server.js';
import { balanceOf, creditProblems, grantAsAdmin } from '../support/ledger.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

type Transaction = CreditHistoryQuery['creditHistory']['edges'][number]['node'];

/** creditHistory and User.creditTransactions (each filter, keyset pages), workshops, workshop(id) and user(id). */
describe('credit history and workshops', () => {
  let server: TestServer;
  const sub = uniqueSub('history');
  let userId: string;
  const workshops: string[] = [];
  let all: Transaction[];

  /** Every page of a history listing, following endCursor; checks the page shape on the way. */
  async function pages(
    fetchPage: (after: string | null) => Promise<{ nodes: Transaction[]; hasNextPage: boolean; endCursor: string | null | undefined }>,
    size: number,
  ): Promise<Transaction[]> {
    const out: Transaction[] = [];
    let after: string | null = null;
    for (let guard = 0; guard < 100; guard++) {
      const page = await fetchPage(after);
      expect(page.nodes.length).toBeLessThanOrEqual(size);
      out.push(...page.nodes);
      if (!page.hasNextPage) return out;
      expect(page.nodes).toHaveLength(size);
      after = page.endCursor!;
    }
    throw new Error('pagination did not end');
  }

  const historyPages = (filter: CreditHistoryFilter | undefined, size: number) =>
    pages(async (after) => {
      const res = await server.as(sub).execute(CreditHistoryDocument, { first: size, after, filter });
      expect(res.errors).toBeUndefined();
      const c = res.data!.creditHistory;
      return { nodes: c.edges.map((e) => e.node), hasNextPage: c.pageInfo.hasNextPage, endCursor: c.pageInfo.endCursor };
    }, size);

  const myTransactionPages = (filter: CreditHistoryFilter | undefined, size: number) =>
    pages(async (after) => {
      const res = await server.as(sub).execute(MyTransactionsDocument, { first: size, after, filter });
      expect(res.errors).toBeUndefined();
      const c = res.data!.me.creditTransactions;
      return { nodes: c.edges.map((e) => e.node), hasNextPage: c.pageInfo.hasNextPage, endCursor: c.pageInfo.endCursor };
    }, size);

  beforeAll(async () => {
    server = await startTestServer({ env: { STARTER_CREDITS: '20', ADMIN_USER_IDS: ADMIN_SUB } });
    userId = await userIdOf(server, sub);
    const client = server.as(sub);
    await grantAsAdmin(server, userId, 100);
    for (const title of ['First', 'Second', 'Third']) {
      workshops.push((await client.execute(CreateWorkshopDocument, { input: { title } })).data!.createWorkshop.id);
    }
    await client.execute(ConsumeWorkshopCreditDocument, { workshopId: workshops[0]! });
    const features = ['chat', 'document_generation', 'ai.summary'];
    for (let i = 0; i < 30; i++) {
      const res = await client.execute(ConsumeCreditsDocument, {
        input: { amount: 1 + (i % 3), feature: features[i % 3]!, idempotencyKey: `h-${i}`, workshopId: i % 5 === 0 ? workshops[2] : undefined },
      });
      expect(res.errors).toBeUndefined();
      if (i === 10) {
        // Purchases that have not (or never) taken effect, as checkout would leave them; they do not move the balance.
        const balance = await balanceOf(server, userId);
        await server.sql.query(
          `insert into credit_transactions (id, account_id, type, status, amount, balance_after, description, stripe_session_id, created_at)
           values ('ctx_pendingrow0001', $1, 'purchase', 'pending', 50, $2, 'Pack', 'cs_test_pending_1', now()),
                  ('ctx_failedrow00001', $1, 'purchase', 'failed', 50, $2, 'Pack', 'cs_test_failed_1', now())`,
          [userId, balance],
        );
      }
      if (i === 20) await client.execute(ConsumeWorkshopCreditDocument, { workshopId: workshops[1]! });
    }
    await grantAsAdmin(server, userId, 3);
    all = await historyPages(undefined, 100);
  });
  afterAll(() => server.close());

  it('lists the whole ledger newest first in posting order, with running balances', async () => {
    const { rows } = await server.sql.query<{ id: string }>('select id from credit_transactions where account_id = $1 order by posting_seq desc', [userId]);
    expect(all.map((t) => t.id)).toEqual(rows.map((r) => r.id));
    expect(all).toHaveLength(1 + 1 + 1 + 30 + 2 + 1 + 1); // starter, grant, 2 charges, 30 spends, 2 purchases, grant
    const completed = all.filter((t) => t.status === 'COMPLETED');
    expect(completed[0]!.balanceAfter).toBe(await balanceOf(server, userId));
    for (let i = 0; i + 1 < completed.length; i++) {
      expect(completed[i]!.balanceAfter - completed[i]!.amount).toBe(completed[i + 1]!.balanceAfter);
    }
    expect(completed.at(-1)!.balanceAfter).toBe(completed.at(-1)!.amount);
    expect(await creditProblems(server, userId)).toEqual([]);
  });

  it.each([1, 7, 20])('pages of %i join up with no duplicates and no gaps', async (size) => {
    const paged = await historyPages(undefined, size);
    expect(paged.map((t) => t.id)).toEqual(all.map((t) => t.id));
    expect(new Set(paged.map((t) => t.id)).size).toBe(paged.length);
  });

  it('paginates me.creditTransactions the same way as creditHistory', async () => {
    expect((await myTransactionPages(undefined, 6)).map((t) => t.id)).toEqual(all.map((t) => t.id));
  });

  it('answers the last page with hasNextPage false, and an empty page with no cursor', async () => {
    const last = await server.as(sub).execute(CreditHistoryDocument, { first: all.length });
    expect(last.data?.creditHistory.pageInfo.hasNextPage).toBe(false);
    const beyond = await server.as(sub).execute(CreditHistoryDocument, { first: 5, after: last.data!.creditHistory.pageInfo.endCursor });
    expect(beyond.data?.creditHistory).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    const oneShort = await server.as(sub).execute(CreditHistoryDocument, { first: all.length - 1 });
    expect(oneShort.data?.creditHistory.pageInfo.hasNextPage).toBe(true);
  });

  const ms = (iso: string) => new Date(iso).getTime();
  const filters: [string, () => CreditHistoryFilter, (t: Transaction) => boolean][] = [
    ['type GRANT', () => ({ type: 'GRANT' }), (t) => t.type === 'GRANT'],
    ['type CONSUMPTION', () => ({ type: 'CONSUMPTION' }), (t) => t.type === 'CONSUMPTION'],
    ['type PURCHASE', () => ({ type: 'PURCHASE' }), (t) => t.type === 'PURCHASE'],
    ['status COMPLETED', () => ({ status: 'COMPLETED' }), (t) => t.status === 'COMPLETED'],
    ['status PENDING', () => ({ status: 'PENDING' }), (t) => t.status === 'PENDING'],
    ['status FAILED', () => ({ status: 'FAILED' }), (t) => t.status === 'FAILED'],
    ['workshopId (spends against a workshop)', () => ({ workshopId: workshops[2] }), (t) => t.workshop?.id === workshops[2]],
    ['workshopId (a charged workshop)', () => ({ workshopId: workshops[0] }), (t) => t.workshop?.id === workshops[0]],
    ['feature chat', () => ({ feature: 'chat' }), (t) => t.feature === 'chat'],
    ['feature workshop', () => ({ feature: 'workshop' }), (t) => t.feature === 'workshop'],
    ['from', () => ({ from: all[12]!.createdAt }), (t) => ms(t.createdAt) >= ms(all[12]!.createdAt)],
    ['to', () => ({ to: all[12]!.createdAt }), (t) => ms(t.createdAt) < ms(all[12]!.createdAt)],
    [
      'from and to',
      () => ({ from: all[25]!.createdAt, to: all[5]!.createdAt }),
      (t) => ms(t.createdAt) >= ms(all[25]!.createdAt) && ms(t.createdAt) < ms(all[5]!.createdAt),
    ],
    [
      'type, feature and workshopId together',
      () => ({ type: 'CONSUMPTION', feature: 'ai.summary', workshopId: workshops[2] }),
      (t) => t.type === 'CONSUMPTION' && t.feature === 'ai.summary' && t.workshop?.id === workshops[2],
    ],
  ];

  it.each(filters)('filters by %s, in creditHistory and me.creditTransactions, across pages', async (_label, filter, keep) => {
    const expected = all.filter(keep).map((t) => t.id);
    // The filter must keep something and leave something out, or the comparison proves little.
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(all.length);
    expect((await historyPages(filter(), 4)).map((t) => t.id)).toEqual(expected);
    expect((await myTransactionPages(filter(), 3)).map((t) => t.id)).toEqual(expected);
  });

  it('answers a filter that matches nothing with an empty page', async () => {
    const res = await server.as(sub).execute(CreditHistoryDocument, { first: 10, filter: { feature: 'never_used' } });
    expect(res.data?.creditHistory).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  it('lets an admin read the same filtered history through user(id)', async () => {
    const res = await server.as(ADMIN_SUB).execute(ApiUserDetailDocument, { id: userId, first: 100, filter: { type: 'GRANT' } });
    expect(res.data?.user?.creditTransactions.edges.map((e) => e.node.id)).toEqual(all.filter((t) => t.type === 'GRANT').map((t) => t.id));
    expect(res.data?.user?.workshops.edges.map((e) => e.node.id)).toEqual([...workshops].reverse());
    expect(res.data?.user?.creditBalance).toBe(await balanceOf(server, userId));
  });

  it('lists workshops newest first, paginated, the same through me.workshops', async () => {
    const { rows } = await server.sql.query<{ id: string }>(
      'select id from workshops where user_id = $1 order by created_at desc, id desc',
      [userId],
    );
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const res: GraphQLResponse<WorkshopsQuery> = await server.as(sub).execute(WorkshopsDocument, { first: 2, after });
      const page = res.data!.workshops;
      seen.push(...page.edges.map((e) => e.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor!;
    }
    expect(seen).toEqual(rows.map((r) => r.id));
    expect(seen).toEqual([...workshops].reverse());
    const viaMe = await server.as(sub).execute(MyWorkshopsDocument, { first: 100 });
    expect(viaMe.data?.me.workshops.edges.map((e) => e.node.id)).toEqual(seen);
    const list = await server.as(sub).execute(WorkshopsDocument, { first: 100 });
    expect(list.data?.workshops.edges.map((e) => [e.node.title, e.node.status, e.node.creditConsumedAt !== null])).toEqual([
      ['Third', 'DRAFT', false],
      ['Second', 'DRAFT', true],
      ['First', 'DRAFT', true],
    ]);
  });

  it("workshop(id) shows a workshop with its own ledger rows, newest first", async () => {
    const charged = await server.as(sub).execute(ApiWorkshopDetailDocument, { id: workshops[0]! });
    expect(charged.data?.workshop).toMatchObject({ id: workshops[0], title: 'First', status: 'DRAFT', creditConsumedAt: expect.any(String) });
    expect(charged.data?.workshop?.creditTransactions).toEqual([{ id: expect.any(String), type: 'CONSUMPTION', amount: -1, feature: 'workshop' }]);

    const spentOn = await server.as(sub).execute(ApiWorkshopDetailDocument, { id: workshops[2]! });
    expect(spentOn.data?.workshop?.creditConsumedAt).toBeNull();
    expect(spentOn.data?.workshop?.creditTransactions.map((t) => t.id)).toEqual(
      all.filter((t) => t.workshop?.id === workshops[2]).map((t) => t.id),
    );
  });
});
