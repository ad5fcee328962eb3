import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CreditBalanceDocument, MeDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { statementRecorder } from '../support/statements.js';
import { balanceOf, grantAsAdmin, ledgerRows } from '../support/ledger.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/**
 * The path every consumption takes is one statement and no transaction: the ledger's single conditional statement,
 * prepared (a named statement, values bound, never inlined). The viewer lookup runs on a subject's first request,
 * then only when its profile claims change or its cached entry lapses (VIEWER_CACHE_SECONDS). They run outside the
 * ORM's per-statement machinery (database/native-query.ts) but still reach its query logger, which is how these tests
 * see them. Internal by design: it asserts on the statements themselves.
 */
describe('the consumption hot path', () => {
  let server: TestServer;
  const statements = statementRecorder();

  const consume = (sub: string, idempotencyKey: string, amount = 1) =>
    server.as(sub).raw({
      query: 'mutation C($input: ConsumeCreditsInput!) { consumeCredits(input: $input) { id amount balanceAfter createdAt } }',
      variables: { input: { amount, feature: 'hot-path', idempotencyKey } },
    });

  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB, STARTER_CREDITS: '0' }, onQuery: statements.onQuery });
  });
  afterAll(() => server.close());

  it('is one prepared posting statement once the viewer is known, with the values bound, not inlined', async () => {
    const sub = uniqueSub('hot');
    const userId = await userIdOf(server, sub);
    await grantAsAdmin(server, userId, 10);

    const { result, sql } = await statements.during(() => consume(sub, "key-with-'quote'"));
    expect(result.errors).toBeUndefined();
    expect(sql).toHaveLength(1);
    expect(sql[0]).toMatch(/^\s*with moved as \(\s*update accounts set credit_balance = credit_balance \+ \$1/);
    // Values travel as parameters: nothing of the request is in the statement's text.
    expect(sql[0]).not.toContain('quote');
    expect(sql.join('\n')).not.toMatch(/^(begin|commit)/im);

    const rows = await ledgerRows(server, userId);
    const consumed = rows.find((row) => row.idempotency_key === "key-with-'quote'");
    expect(consumed).toMatchObject({ amount: -1, balance_after: 9 });
    expect(result.data).toMatchObject({ consumeCredits: { id: consumed!.id, amount: -1, balanceAfter: 9 } });
    expect(await balanceOf(server, userId)).toBe(9);
  });

  it('forks no EntityManager for a consumption or a balance read: their one statement goes through the root one', async () => {
    const sub = uniqueSub('hot-fork');
    await grantAsAdmin(server, await userIdOf(server, sub), 5);
    // Counts forks without changing them (instrumentation, as the statement recorder is).
    const root = server.orm.em;
    const fork = root.fork.bind(root);
    let forks = 0;
    root.fork = ((...args: Parameters<typeof fork>) => {
      forks++;
      return fork(...args);
    }) as typeof root.fork;
    try {
      const consumed = await consume(sub, 'no-fork');
      const balance = await server.as(sub).execute(CreditBalanceDocument);
      expect(consumed.errors).toBeUndefined();
      expect(balance.data?.creditBalance).toBe(4);
      expect(forks).toBe(0);
      // A path that needs its own EntityManager still gets one: an overspend reads the account on the slow path.
      const refused = await consume(sub, 'no-fork-refused', 100);
      expect(refused.errors?.[0]?.extensions?.code).toBe('INSUFFICIENT_CREDITS');
      expect(forks).toBeGreaterThan(0);
    } finally {
      root.fork = fork;
    }
  });

  it('looks the viewer up on a subject’s first request only', async () => {
    const sub = uniqueSub('hot-first');
    const first = await statements.during(() => consume(sub, 'first'));
    expect(first.sql[0]).toMatch(/^select u\.\*, .+ from users u join accounts a on a\.id = u\.id\s+where u\.clerk_user_id = \$1 limit 1$/s);
    const again = await statements.during(() => server.as(sub).execute(CreditBalanceDocument));
    expect(again.sql.filter((s) => s.startsWith('select u.*'))).toEqual([]);
  });

  it('answers a consumption with the row as stored, dates as ISO-8601', async () => {
    const sub = uniqueSub('hot-shape');
    await grantAsAdmin(server, await userIdOf(server, sub), 3);
    const first = await consume(sub, 'shape-1', 2);
    const replay = await consume(sub, 'shape-1', 2);
    expect(first.errors).toBeUndefined();
    const row = (first.data as { consumeCredits: { createdAt: string } }).consumeCredits;
    expect(row.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    // The retry is answered from the stored row (the replay path), identically.
    expect(replay.data).toEqual(first.data);
  });

  it('reads the viewer again when a claim changes, and writes the change back in one more statement', async () => {
    const sub = uniqueSub('hot-viewer');
    await server.as(sub, { email: 'a@example.com' }).execute(MeDocument);

    const read = await statements.during(() => server.as(sub, { email: 'a@example.com' }).execute(CreditBalanceDocument));
    expect(read.result.errors).toBeUndefined();
    expect(read.sql.filter((s) => s.startsWith('select u.*'))).toHaveLength(0);
    expect(read.sql.join('\n')).not.toMatch(/update users/);

    const changed = await statements.during(() => server.as(sub, { email: 'b@example.com' }).execute(MeDocument));
    expect(changed.result.data?.me.email).toBe('b@example.com');
    expect(changed.sql.filter((s) => /^with changed as \(\s*update users set email/.test(s))).toHaveLength(1);
    const after = await server.as(sub, { email: 'b@example.com' }).execute(MeDocument);
    expect(after.data?.me.email).toBe('b@example.com');
  });
});
