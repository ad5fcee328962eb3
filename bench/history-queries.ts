import type pg from 'pg';
import { issueHs256Token } from '../src/graphql/auth.js';
import { runHttp, type HttpScenario } from './http-load.js';
import type { Measurement } from './measurement.js';
import type { ScenarioReport } from './report.js';
import { inTransaction, settle } from './database.js';

/**
 * Reads of a user with 100,000 ledger rows over a year: `creditBalanceAt` at random instants (one backward step on
 * the (account_id, effective_at, posting_seq) index) and `creditUsage` over a random month by DAY and over the whole
 * year by MONTH (a range scan of the same index over every row). Called from run.ts after the other scenarios.
 */
export const HISTORY_QUERY_ROWS = 100_000;
export const HISTORY_QUERY_SCENARIOS = ['balance-at-100k', 'usage-month-by-day-100k', 'usage-year-by-month-100k'] as const;

const YEAR_START = Date.parse('2025-01-01T00:00:00Z');
const YEAR_MS = 365 * 86_400_000;
const FEATURES = ['chat', 'doc.render', 'img-gen', 'search'];

type Runner = (concurrency: number, seconds: number) => Promise<Measurement>;

export interface HistoryQueriesContext {
  pool: pg.Pool;
  apiUrl: string;
  jwtSecret: string;
  runId: string;
  selected(name: string): boolean;
  /** run.ts's measureTogether() for one scenario: warm-up, then one run per configured concurrency. */
  measure(name: string, summary: string, runner: Runner): Promise<ScenarioReport>;
}

/** A user whose grant is spent one credit at a time, 100,000 times over 2025, rows in posting order; audit-clean. */
async function seedHistoryUser(pool: pg.Pool, runId: string): Promise<string> {
  const id = `usr_b${runId}big`;
  const clerkUserId = `bench_${runId}_big`;
  const rows = HISTORY_QUERY_ROWS;
  await inTransaction(pool, async (client) => {
    // A year of history is seeded, not lived: its rows write no events (the outbox triggers sleep while replication
    // role is replica), or the first run would pay for fanning out 100,000 of them. Without the rights, they do.
    await client.query('savepoint quiet');
    await client.query('set local session_replication_role = replica').catch(() => client.query('rollback to savepoint quiet'));
    await client.query(`insert into accounts (id, kind) values ($1, 'personal')`, [id]);
    await client.query('insert into users (id, clerk_user_id) values ($1, $2)', [id, clerkUserId]);
    await client.query(
      `insert into credit_transactions (id, account_id, type, status, amount, balance_after, description, feature, effective_at, created_at)
       select 'ctx_' || substr($1, 5) || 'h' || g, $1, case when g = 0 then 'grant' else 'consumption' end, 'completed',
              case when g = 0 then $2 else -1 end, $2 - g, 'Benchmark history',
              case when g = 0 then null else ($3::text[])[1 + g % array_length($3::text[], 1)] end,
              to_timestamp($4::double precision / 1000) + make_interval(secs => g * ($5::double precision / $2)),
              to_timestamp($4::double precision / 1000) + make_interval(secs => g * ($5::double precision / $2))
       from generate_series(0, $2::int) g order by g`,
      [id, rows, FEATURES, YEAR_START, YEAR_MS / 1000],
    );
  });
  await pool.query('analyze credit_transactions');
  return clerkUserId;
}

const randomInstant = (spanMs: number) => new Date(YEAR_START + Math.random() * (YEAR_MS - spanMs));

export async function benchHistoryQueries(context: HistoryQueriesContext): Promise<ScenarioReport[]> {
  if (!HISTORY_QUERY_SCENARIOS.some((name) => context.selected(name))) return [];
  process.stderr.write(`bench: seeding a user with ${HISTORY_QUERY_ROWS.toLocaleString('en-US')} ledger rows\n`);
  const token = await issueHs256Token(context.jwtSecret, await seedHistoryUser(context.pool, context.runId), {}, '1d');
  await settle(context.pool);
  const body = (query: string, variables: Record<string, unknown>) => ({ token, body: JSON.stringify({ query, variables }) });
  const usage = 'query Usage($from: DateTime!, $to: DateTime!, $window: UsageWindow!) { creditUsage(from: $from, to: $to, window: $window) { start feature credits count } }';
  const scenarios: HttpScenario[] = [
    {
      name: 'balance-at-100k',
      summary: `creditBalanceAt(time) at a random instant of a ${HISTORY_QUERY_ROWS.toLocaleString('en-US')}-row year`,
      nextRequest: () => body('query At($time: DateTime!) { creditBalanceAt(time: $time) }', { time: randomInstant(0).toISOString() }),
    },
    {
      name: 'usage-month-by-day-100k',
      summary: 'creditUsage by DAY over a random 30 days of it (about 8,200 rows, 4 features)',
      nextRequest: () => {
        const from = randomInstant(30 * 86_400_000);
        return body(usage, { from: from.toISOString(), to: new Date(from.getTime() + 30 * 86_400_000).toISOString(), window: 'DAY' });
      },
    },
    {
      name: 'usage-year-by-month-100k',
      summary: 'creditUsage by MONTH over the whole year (every row)',
      nextRequest: () => body(usage, { from: '2025-01-01T00:00:00Z', to: '2026-01-01T00:00:00Z', window: 'MONTH' }),
    },
  ];
  const reports: ScenarioReport[] = [];
  for (const scenario of scenarios) {
    if (!context.selected(scenario.name)) continue;
    reports.push(await context.measure(scenario.name, scenario.summary, (c, s) => runHttp(context.apiUrl, scenario, c, s)));
  }
  return reports;
}
