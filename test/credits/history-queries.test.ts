import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BALANCE_AT_SQL, usageQuery, UsageWindow } from '../../src/credits/usage.js';
import { CreditBalanceAtDocument, CreditUsageDocument, SpendCreditsDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { capture, key, reserve } from '../support/credits.js';
import { errorOf } from '../support/errors.js';
import { creditProblems, grantAsAdmin } from '../support/ledger.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/** The ORM's `?` placeholders as pg's `$n` (the statements below have no `?` inside quotes). */
const toPgPlaceholders = (sql: string) => {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
};

/**
 * Balance at any time and windowed usage, answered from the ledger by the (account_id, effective_at, posting_seq) index.
 * Partly internal by design: the query plans are checked with EXPLAIN on the statements themselves.
 */
describe('balance at a time and usage windows', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB } });
  });
  afterAll(() => server.close());

  const dbNow = async () => (await server.sql.query<{ now: Date }>('select clock_timestamp() as now')).rows[0]!.now;
  const pause = () => new Promise((resolve) => setTimeout(resolve, 3));

  it('answers the balance right after each posting, from rows written through the API', async () => {
    const sub = uniqueSub('balance_at');
    const userId = await userIdOf(server, sub);
    const checkpoints: { at: Date; balance: number }[] = [{ at: await dbNow(), balance: 0 }];
    await pause();
    const record = async (balance: number) => {
      await pause(); // so the checkpoint's millisecond falls strictly between two postings
      checkpoints.push({ at: await dbNow(), balance });
      await pause();
    };
    await grantAsAdmin(server, userId, 20);
    await record(20);
    for (const amount of [3, 1, 4]) {
      const res = await server.as(sub).execute(SpendCreditsDocument, { input: { amount, feature: 'chat', idempotencyKey: key('s') } });
      await record(res.data!.consumeCredits.balanceAfter);
    }
    const { id } = (await reserve(server, sub, 5)).data!.reserveCredits;
    await record(12); // a hold changes no balance
    await capture(server, sub, id, 2);
    await record(10);

    for (const { at, balance } of checkpoints) {
      const res = await server.as(sub).execute(CreditBalanceAtDocument, { time: at.toISOString() });
      expect({ at, balance: res.data?.creditBalanceAt }).toEqual({ at, balance });
    }
    const far = await server.as(sub).execute(CreditBalanceAtDocument, { time: '2999-01-01T00:00:00Z' });
    expect(far.data?.creditBalanceAt).toBe(10);
    const { rows } = await server.sql.query<{ ordered: boolean }>(
      `select bool_and(effective_at >= lag) as ordered from (
         select effective_at, lag(effective_at) over (order by posting_seq) from credit_transactions where account_id = $1) x
       where lag is not null`,
      [userId],
    );
    expect(rows[0]!.ordered).toBe(true);
  });

  describe('on a generated history', () => {
    const sub = uniqueSub('usage');
    let userId: string;
    const features = ['chat', 'doc.render', 'img-gen'];
    const start = Date.parse('2025-01-01T00:00:00Z');
    const history: { at: number; amount: number; feature: string | null; balance: number }[] = [];

    beforeAll(async () => {
      userId = await userIdOf(server, sub);
      let balance = 0;
      let at = start;
      let seed = 7;
      const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      for (let i = 0; i < 3000; i++) {
        at += Math.floor(random() * 4 * 3_600_000) + 1;
        if (i % 50 === 0) {
          balance += 500;
          history.push({ at, amount: 500, feature: null, balance });
        } else {
          const amount = 1 + Math.floor(random() * 9);
          if (amount > balance) continue;
          balance -= amount;
          history.push({ at, amount: -amount, feature: features[Math.floor(random() * features.length)]!, balance });
        }
      }
      await server.sql.query(
        `insert into credit_transactions (id, account_id, type, status, amount, balance_after, description, feature, effective_at, created_at)
         select 'ctx_' || substr($1, 5) || 'h' || n, $1, case when a > 0 then 'grant' else 'consumption' end, 'completed', a, b,
                'generated', f, e, e
         from unnest($2::timestamptz[], $3::int[], $4::text[], $5::int[]) with ordinality as h(e, a, f, b, n) order by n`,
        [userId, history.map((h) => new Date(h.at)), history.map((h) => h.amount), history.map((h) => h.feature), history.map((h) => h.balance)],
      );
      await server.sql.query('update accounts set credit_balance = $2 where id = $1', [userId, balance]);
      expect(await creditProblems(server, userId)).toEqual([]);
    });

    const expectedBalanceAt = (time: number) => [...history].reverse().find((h) => h.at <= time)?.balance ?? 0;

    it('creditBalanceAt matches the running balance at any instant, including exactly at a posting', async () => {
      const times = [start - 1, history[0]!.at, history[0]!.at - 1, history.at(-1)!.at + 1];
      for (let i = 1; i < history.length; i += 97) times.push(history[i]!.at, history[i]!.at - 1, history[i]!.at + 1_800_000);
      for (const time of times) {
        const res = await server.as(sub).execute(CreditBalanceAtDocument, { time: new Date(time).toISOString() });
        expect({ time, balance: res.data?.creditBalanceAt }).toEqual({ time, balance: expectedBalanceAt(time) });
      }
    });

    /** UTC calendar buckets computed here, independently of the SQL. */
    function bucketStart(time: number, window: 'DAY' | 'WEEK' | 'MONTH'): number {
      const d = new Date(time);
      if (window === 'MONTH') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
      return window === 'DAY' ? day : day - ((d.getUTCDay() + 6) % 7) * 86_400_000;
    }

    function expectedUsage(from: number, to: number, window: 'DAY' | 'WEEK' | 'MONTH', feature?: string) {
      const buckets = new Map<string, { start: string; feature: string; credits: number; count: number }>();
      for (const h of history) {
        if (h.amount >= 0 || h.at < from || h.at >= to || (feature && h.feature !== feature)) continue;
        const startIso = new Date(bucketStart(h.at, window)).toISOString();
        const bucket = buckets.get(`${startIso} ${h.feature}`) ?? { start: startIso, feature: h.feature!, credits: 0, count: 0 };
        bucket.credits -= h.amount;
        bucket.count += 1;
        buckets.set(`${startIso} ${h.feature}`, bucket);
      }
      return [...buckets.values()].sort((a, b) => (a.start === b.start ? (a.feature < b.feature ? -1 : 1) : a.start < b.start ? -1 : 1));
    }

    it.each([
      ['DAY', '2025-02-03T05:00:00Z', '2025-03-15T00:00:00Z', undefined],
      ['DAY', '2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'chat'],
      ['WEEK', '2025-01-08T12:00:00Z', '2025-09-01T00:00:00Z', undefined],
      ['MONTH', '2024-12-01T00:00:00Z', '2026-06-01T00:00:00Z', undefined],
      ['MONTH', '2025-03-17T00:00:00Z', '2025-05-02T00:00:00Z', 'img-gen'],
    ] as const)('creditUsage by %s from %s to %s (feature %s) matches the rows', async (window, from, to, feature) => {
      const res = await server.as(sub).execute(CreditUsageDocument, { from, to, window, feature });
      expect(res.errors).toBeUndefined();
      const expected = expectedUsage(Date.parse(from), Date.parse(to), window, feature);
      expect(expected.length).toBeGreaterThan(0);
      expect(res.data?.creditUsage).toEqual(expected);
    });

    it('refuses windows that are empty, reversed or too long, naming the field', async () => {
      const ask = (from: string, to: string, window: 'DAY' | 'WEEK' | 'MONTH', feature?: string) =>
        server.as(sub).execute(CreditUsageDocument, { from, to, window, feature });
      expect((await ask('2025-02-01T00:00:00Z', '2025-02-01T00:00:00Z', 'DAY')).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'to' });
      expect((await ask('2025-03-01T00:00:00Z', '2025-02-01T00:00:00Z', 'WEEK')).errors?.[0]?.extensions).toMatchObject({ field: 'to' });
      expect((await ask('2025-01-01T00:00:00Z', '2026-01-03T00:00:00Z', 'DAY')).errors?.[0]?.extensions).toMatchObject({ field: 'to' });
      expect((await ask('2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'WEEK')).errors).toBeUndefined();
      expect((await ask('2025-01-01T00:00:00Z', '2036-01-01T00:00:00Z', 'MONTH')).errors?.[0]?.extensions).toMatchObject({ field: 'to' });
      expect((await ask('2025-01-01T00:00:00Z', '2025-02-01T00:00:00Z', 'DAY', 'Bad Feature')).errors?.[0]?.extensions).toMatchObject({ field: 'feature' });
      expect(errorOf(await server.as().execute(CreditBalanceAtDocument, { time: '2025-01-01T00:00:00Z' }))?.code).toBe('UNAUTHENTICATED');
      expect(errorOf(await server.as(sub).execute(CreditBalanceAtDocument, { time: 'yesterday' }))?.code).toBe('BAD_USER_INPUT');
    });
  });

  it('reads a 100,000-row user through the (account_id, effective_at, posting_seq) index', async () => {
    const sub = uniqueSub('big');
    const userId = await userIdOf(server, sub);
    const rows = 100_000;
    // Generated history, written without the outbox's triggers (an event per row would only slow the set-up).
    const client = await server.sql.connect();
    try {
      await client.query('begin');
      await client.query('set local session_replication_role = replica');
      await client.query(
        `insert into credit_transactions (id, account_id, type, status, amount, balance_after, description, feature, effective_at, created_at)
         select 'ctx_' || substr($1, 5) || 'b' || g, $1, case when g = 0 then 'grant' else 'consumption' end, 'completed',
                case when g = 0 then $2 else -1 end, $2 - g, 'generated', case when g = 0 then null else 'chat' end,
                timestamptz '2025-01-01' + make_interval(secs => g * 300), timestamptz '2025-01-01' + make_interval(secs => g * 300)
         from generate_series(0, $2::int) g order by g`,
        [userId, rows],
      );
      await client.query('commit');
    } finally {
      client.release();
    }
    await server.sql.query('update accounts set credit_balance = 0 where id = $1', [userId]);
    await server.sql.query('analyze credit_transactions');

    const explain = async (sql: string, params: unknown[]) =>
      (await server.sql.query<{ 'QUERY PLAN': string }>(`explain ${toPgPlaceholders(sql)}`, params)).rows.map((r) => r['QUERY PLAN']).join('\n');
    const balancePlan = await explain(BALANCE_AT_SQL, [userId, new Date('2025-06-01T00:00:00Z')]);
    expect(balancePlan).toMatch(/Index (Only )?Scan( Backward)? using credit_transactions_account_effective_index/);
    expect(balancePlan).toMatch(/Limit/);
    const usagePlan = await explain(
      ...usageQuery(userId, { from: new Date('2025-03-01T00:00:00Z'), to: new Date('2025-03-08T00:00:00Z'), window: UsageWindow.DAY }),
    );
    expect(usagePlan).toMatch(/(Index Scan|Index Only Scan) using credit_transactions_account_effective_index|Bitmap Index Scan on credit_transactions_account_effective_index/);

    const at = await server.as(sub).execute(CreditBalanceAtDocument, { time: '2025-01-01T00:25:00Z' });
    expect(at.data?.creditBalanceAt).toBe(rows - 5);
    const week = await server.as(sub).execute(CreditUsageDocument, { from: '2025-01-06T00:00:00Z', to: '2025-01-13T00:00:00Z', window: 'WEEK' });
    expect(week.data?.creditUsage).toEqual([{ start: '2025-01-06T00:00:00.000Z', feature: 'chat', credits: 7 * 288, count: 7 * 288 }]);
  });
});
