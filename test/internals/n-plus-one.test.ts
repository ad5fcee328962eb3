import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApiHistoryWithWorkshopsDocument, ApiWorkshopsWithTransactionsDocument, ConsumeWorkshopCreditDocument, CreateWorkshopDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { statementRecorder } from '../support/statements.js';
import { grantAsAdmin } from '../support/ledger.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/**
 * Relations on a page are batched: the number of SQL statements a request runs does not grow with the page size.
 * Statements are counted through the ORM's query logger hook (instrumentation, nothing replaced). Internal by design.
 */
describe('N+1', () => {
  let server: TestServer;
  const statements = statementRecorder();
  const sub = uniqueSub('nplus1');
  const MAX_STATEMENTS = 6;

  const statementsOf = async (request: () => Promise<unknown>) => (await statements.during(request)).sql;

  beforeAll(async () => {
    server = await startTestServer({
      env: { ADMIN_USER_IDS: ADMIN_SUB },
      onQuery: statements.onQuery,
    });
    const userId = await userIdOf(server, sub);
    await grantAsAdmin(server, userId, 100);
    const client = server.as(sub);
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const created = await client.execute(CreateWorkshopDocument, { input: { title: `Workshop ${batch * 10 + i}` } });
          const charged = await client.execute(ConsumeWorkshopCreditDocument, { workshopId: created.data!.createWorkshop.id });
          expect(charged.errors).toBeUndefined();
        }),
      );
    }
  }, 120_000);
  afterAll(() => server.close());

  it('a history page with each row\'s workshop runs the same few statements for 10 rows as for 100', async () => {
    let rows = 0;
    const page = (first: number) => async () => {
      const res = await server.as(sub).execute(ApiHistoryWithWorkshopsDocument, { first });
      const edges = res.data!.creditHistory.edges;
      // Every row really has a workshop to resolve, and each a different one.
      expect(edges.every((e) => e.node.workshop?.title.startsWith('Workshop '))).toBe(true);
      expect(new Set(edges.map((e) => e.node.workshop?.id)).size).toBe(first);
      rows = edges.length;
    };
    const ten = await statementsOf(page(10));
    expect(rows).toBe(10);
    const hundred = await statementsOf(page(100));
    expect(rows).toBe(100);
    expect(hundred).toHaveLength(ten.length);
    expect(hundred.filter((sql) => /from "?workshops"?\b/.test(sql))).toHaveLength(1); // one batched load for all rows
    expect(hundred.length).toBeLessThanOrEqual(MAX_STATEMENTS);
  });

  it("a workshops page with each workshop's transactions runs the same few statements for 10 workshops as for 100", async () => {
    let workshops = 0;
    const page = (first: number) => async () => {
      const res = await server.as(sub).execute(ApiWorkshopsWithTransactionsDocument, { first });
      const edges = res.data!.workshops.edges;
      expect(edges.every((e) => e.node.creditTransactions.length === 1 && e.node.creditTransactions[0]!.feature === 'workshop')).toBe(true);
      workshops = edges.length;
    };
    const ten = await statementsOf(page(10));
    expect(workshops).toBe(10);
    const hundred = await statementsOf(page(100));
    expect(workshops).toBe(100);
    expect(hundred).toHaveLength(ten.length);
    expect(hundred.filter((sql) => /from "?credit_transactions"?\b/.test(sql))).toHaveLength(1);
    expect(hundred.length).toBeLessThanOrEqual(MAX_STATEMENTS);
  });
});
