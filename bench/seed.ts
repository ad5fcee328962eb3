import type pg from 'pg';
import { progress } from './progress.js';
import { inTransaction } from './database.js';

/** A seeded user: the public id and the token subject that finds it. */
export interface BenchUser {
  id: string;
  clerkUserId: string;
}

export interface SeededData {
  /** Users that each hold `CREDITS_PER_USER`; spread scenarios rotate over them. */
  users: BenchUser[];
  /** The hot row: one user that every request of a hot scenario spends from. */
  hot: BenchUser;
  /** A user with `HISTORY_ROWS` consumptions, each linked to its own workshop. */
  history: BenchUser;
}

export const CREDITS_PER_USER = 100_000;
export const HOT_USER_CREDITS = 100_000_000;
export const HISTORY_ROWS = 60;
const BATCH = 2_000;

const benchUser = (runId: string, label: string | number): BenchUser => ({
  id: `usr_b${runId}u${label}`,
  clerkUserId: `bench_${runId}_${label}`,
});

/**
 * Users, each with a GRANT row whose balanceAfter is their balance, so the ledger audit is clean before the load
 * starts. Ids carry the run id: seeding into a DATABASE_URL that holds earlier runs adds, never collides.
 */
async function seedUsers(pool: pg.Pool, runId: string, from: number, to: number, credits: number) {
  await pool.query(
    `with created as (
       insert into users (id, clerk_user_id, credit_balance, created_at, updated_at)
       select 'usr_b' || $1 || 'u' || g, 'bench_' || $1 || '_' || g, $2, now(), now()
       from generate_series($3::int, $4::int) g
       returning id
     )
     insert into credit_transactions (id, user_id, type, status, amount, balance_after, description, idempotency_key,
       effective_at, created_at)
     select 'ctx_' || substr(id, 5) || 'g', id, 'grant', 'completed', $2, $2, 'Benchmark credits', 'bench-seed', now(), now()
     from created`,
    [runId, credits, from, to],
  );
}

async function seedNamedUser(pool: pg.Pool, user: BenchUser, credits: number) {
  await pool.query(
    `with created as (
       insert into users (id, clerk_user_id, credit_balance) values ($1, $2, $3) returning id
     )
     insert into credit_transactions (id, user_id, type, status, amount, balance_after, description, idempotency_key, effective_at)
     select 'ctx_' || substr(id, 5) || 'g', id, 'grant', 'completed', $3, $3, 'Benchmark credits', 'bench-seed', now() from created`,
    [user.id, user.clerkUserId, credits],
  );
}

/** Workshops, each charged once by a CONSUMPTION row, in posting order after the user's grant. */
async function seedHistory(pool: pg.Pool, user: BenchUser, rows: number) {
  const grant = rows * 10;
  await seedNamedUser(pool, user, grant);
  await inTransaction(pool, async (client) => {
    await client.query(
      `insert into workshops (id, user_id, title, status, credit_consumed_at, created_at, updated_at)
       select 'ws_' || substr($1, 5) || 'w' || g, $1, 'Benchmark workshop ' || g, 'active',
              now() - make_interval(secs => $2 - g), now() - make_interval(secs => $2 - g), now()
       from generate_series(1, $2::int) g`,
      [user.id, rows],
    );
    // Posting order follows g (the ORDER BY feeds the posting_seq default row by row), so balanceAfter counts down.
    await client.query(
      `insert into credit_transactions (id, user_id, type, status, amount, balance_after, description, feature,
         idempotency_key, workshop_id, effective_at, created_at)
       select 'ctx_' || substr($1, 5) || 'c' || g, $1, 'consumption', 'completed', -1, $3 - g, 'Workshop "Benchmark workshop ' || g || '"',
              'workshop', null, 'ws_' || substr($1, 5) || 'w' || g, now(), now()
       from generate_series(1, $2::int) g order by g`,
      [user.id, rows, grant],
    );
    await client.query('update users set credit_balance = $2 where id = $1', [user.id, grant - rows]);
  });
}

export async function seed(pool: pg.Pool, runId: string, count: number): Promise<SeededData> {
  const bar = progress('seeding users', count);
  for (let from = 1; from <= count; from += BATCH) {
    const to = Math.min(from + BATCH - 1, count);
    await seedUsers(pool, runId, from, to, CREDITS_PER_USER);
    bar.update(to);
  }
  const hot = benchUser(runId, 'hot');
  const history = benchUser(runId, 'history');
  await seedNamedUser(pool, hot, HOT_USER_CREDITS);
  await seedHistory(pool, history, HISTORY_ROWS);
  await pool.query('analyze users; analyze credit_transactions; analyze workshops');
  bar.finish(`+ hot user, + history user with ${HISTORY_ROWS} workshop charges`);
  const users = Array.from({ length: count }, (_, i) => benchUser(runId, i + 1));
  return { users, hot, history };
}
