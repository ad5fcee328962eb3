import type pg from 'pg';
import { progress } from './progress.js';
import { inTransaction } from './database.js';

/** A seeded user: the public id and the token subject that finds it. */
export interface BenchUser {
  id: string;
  clerkUserId: string;
}

/** A member of a benchmark organization: who they are and which wallet they spend from. */
export interface BenchMember extends BenchUser {
  organizationId: string;
}

export interface SeededData {
  /** Users that each hold `CREDITS_PER_USER`; spread scenarios rotate over them. */
  users: BenchUser[];
  /** The first users again, as members of `ORGANIZATIONS` organizations (each with a monthly limit). */
  members: BenchMember[];
  /** The hot row: one user that every request of a hot scenario spends from. */
  hot: BenchUser;
  /** A user with `HISTORY_ROWS` consumptions, each linked to its own workshop. */
  history: BenchUser;
  /** The API's admin (its subject in ADMIN_USER_IDS): sets up the webhook endpoint of the webhook scenario. */
  admin: BenchUser;
}

export const CREDITS_PER_USER = 100_000;
export const HOT_USER_CREDITS = 100_000_000;
export const HISTORY_ROWS = 60;
/** A few organizations, many members each: the members are the first users, taken round-robin. */
export const ORGANIZATIONS = 10;
export const ORGANIZATION_MEMBERS = 1_000;
export const ORGANIZATION_CREDITS = 100_000_000;
/** High enough never to refuse a run, so every spend pays for the limit check without being stopped by it. */
export const MEMBER_MONTHLY_LIMIT = 10_000_000;
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
    `with accounts as (
       insert into accounts (id, kind, credit_balance, created_at, updated_at)
       select 'usr_b' || $1 || 'u' || g, 'personal', $2, now(), now()
       from generate_series($3::int, $4::int) g
       returning id
     ),
     created as (
       insert into users (id, clerk_user_id, created_at, updated_at)
       select id, 'bench_' || $1 || '_' || substr(id, length('usr_b' || $1 || 'u') + 1), now(), now() from accounts
       returning id
     )
     insert into credit_transactions (id, account_id, type, status, amount, balance_after, description, idempotency_key,
       effective_at, created_at)
     select 'ctx_' || substr(id, 5) || 'g', id, 'grant', 'completed', $2, $2, 'Benchmark credits', 'bench-seed', now(), now()
     from created`,
    [runId, credits, from, to],
  );
}

async function seedNamedUser(pool: pg.Pool, user: BenchUser, credits: number) {
  await pool.query(
    `with account as (
       insert into accounts (id, kind, credit_balance) values ($1, 'personal', $3) returning id
     ),
     created as (
       insert into users (id, clerk_user_id) select id, $2 from account returning id
     )
     insert into credit_transactions (id, account_id, type, status, amount, balance_after, description, idempotency_key, effective_at)
     select 'ctx_' || substr(id, 5) || 'g', id, 'grant', 'completed', $3, $3, 'Benchmark credits', 'bench-seed', now() from created`,
    [user.id, user.clerkUserId, credits],
  );
}

/** Organizations with credits, and the first users as their members (round-robin), each under a monthly limit. */
async function seedOrganizations(pool: pg.Pool, runId: string, users: BenchUser[]): Promise<BenchMember[]> {
  const organizations = Array.from({ length: ORGANIZATIONS }, (_, i) => `org_b${runId}o${i + 1}`);
  for (const id of organizations) {
    await pool.query(
      `with account as (insert into accounts (id, kind, credit_balance) values ($1, 'organization', $2) returning id),
       organization as (insert into organizations (id, name) select id, 'Benchmark organization' from account returning id)
       insert into credit_transactions (id, account_id, type, status, amount, balance_after, description, idempotency_key, effective_at)
       select 'ctx_' || substr(id, 5) || 'g', id, 'grant', 'completed', $2, $2, 'Benchmark credits', 'bench-seed', now() from organization`,
      [id, ORGANIZATION_CREDITS],
    );
  }
  const members = users.slice(0, ORGANIZATION_MEMBERS).map((user, i) => ({ ...user, organizationId: organizations[i % ORGANIZATIONS]! }));
  await pool.query(
    `insert into organization_members (organization_id, user_id, role, monthly_spend_limit)
     select m.organization_id, m.user_id, 'member', $2 from json_to_recordset($1::json) as m(organization_id text, user_id text)`,
    [JSON.stringify(members.map((m) => ({ organization_id: m.organizationId, user_id: m.id }))), MEMBER_MONTHLY_LIMIT],
  );
  return members;
}

/** Workshops, each charged once by a CONSUMPTION row, in posting order after the user's grant. */
async function seedHistory(pool: pg.Pool, user: BenchUser, rows: number) {
  const grant = rows * 10;
  await seedNamedUser(pool, user, grant);
  await inTransaction(pool, async (client) => {
    await client.query(
      `insert into workshops (id, user_id, account_id, title, status, credit_consumed_at, created_at, updated_at)
       select 'ws_' || substr($1, 5) || 'w' || g, $1, $1, 'Benchmark workshop ' || g, 'active',
              now() - make_interval(secs => $2 - g), now() - make_interval(secs => $2 - g), now()
       from generate_series(1, $2::int) g`,
      [user.id, rows],
    );
    // Posting order follows g (the ORDER BY feeds the posting_seq default row by row), so balanceAfter counts down.
    await client.query(
      `insert into credit_transactions (id, account_id, type, status, amount, balance_after, description, feature,
         idempotency_key, workshop_id, effective_at, created_at)
       select 'ctx_' || substr($1, 5) || 'c' || g, $1, 'consumption', 'completed', -1, $3 - g, 'Workshop "Benchmark workshop ' || g || '"',
              'workshop', null, 'ws_' || substr($1, 5) || 'w' || g, now(), now()
       from generate_series(1, $2::int) g order by g`,
      [user.id, rows, grant],
    );
    await client.query('update accounts set credit_balance = $2 where id = $1', [user.id, grant - rows]);
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
  const admin = benchUser(runId, 'admin');
  await seedNamedUser(pool, admin, 1);
  const users = Array.from({ length: count }, (_, i) => benchUser(runId, i + 1));
  const members = await seedOrganizations(pool, runId, users);
  await pool.query('analyze accounts; analyze users; analyze credit_transactions; analyze workshops; analyze organization_members');
  bar.finish(`+ hot user, + history user with ${HISTORY_ROWS} workshop charges, + ${ORGANIZATIONS} organizations of ${members.length} members`);
  return { users, members, hot, history, admin };
}
