import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MikroORM } from '@mikro-orm/postgresql';
import type pg from 'pg';
import { loadConfig } from '../../src/config.js';
import { auditLedger } from '../../src/credits/audit.js';
import { ormOptions } from '../../src/orm.js';
import { runSeed } from '../../src/seed.js';
import { SEED_ORGANIZATION, SEED_SUBSCRIBED_ORGANIZATION, SEED_USERS, WORKSHOP_COUNT } from '../../seeders/demo-data.js';
import { createTestDatabase, sqlPool } from '../support/database.js';
import { cleanEnv, runNode, stopAllProcesses } from '../support/processes.js';

type Counts = Record<string, number>;

/** Row counts of every table in the database, not only the ones the seed means to write. */
async function everyTableCount(sql: pg.Pool): Promise<Counts> {
  const { rows } = await sql.query<{ table_name: string }>(
    `select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE' order by table_name`,
  );
  const counts: Counts = {};
  for (const { table_name: table } of rows) {
    counts[table] = (await sql.query<{ n: number }>(`select count(*)::int as n from "${table}"`)).rows[0]!.n;
  }
  return counts;
}

/** Accounts whose balance is not the sum of their COMPLETED ledger rows (invariant 2), with both numbers. */
async function balanceMismatches(sql: pg.Pool) {
  const { rows } = await sql.query(
    `select u.id, u.credit_balance, coalesce(sum(t.amount) filter (where t.status = 'completed'), 0)::int as ledger
     from accounts u left join credit_transactions t on t.account_id = u.id
     group by u.id having u.credit_balance <> coalesce(sum(t.amount) filter (where t.status = 'completed'), 0)`,
  );
  return rows;
}

const balanceOf = async (sql: pg.Pool, userId: string) =>
  (await sql.query<{ credit_balance: number }>('select credit_balance from accounts where id = $1', [userId])).rows[0]?.credit_balance;

const ledgerOf = async (sql: pg.Pool, userId: string) =>
  (
    await sql.query<{ id: string; type: string; status: string; amount: number; refund_of_id: string | null; stripe_session_id: string | null }>(
      'select id, type, status, amount, refund_of_id, stripe_session_id from credit_transactions where account_id = $1 order by posting_seq',
      [userId],
    )
  ).rows;

async function seededDatabase(env: Record<string, string> = {}) {
  const url = await createTestDatabase();
  const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: url, ...env });
  const orm = await MikroORM.init(ormOptions({ clientUrl: url, poolMax: 4 }));
  return { url, config, orm, sql: sqlPool(url) };
}

describe('the development seed', () => {
  let db: Awaited<ReturnType<typeof seededDatabase>>;
  let afterFirst: Counts;
  let afterSecond: Counts;

  beforeAll(async () => {
    db = await seededDatabase();
    await runSeed(db.orm, db.config);
    afterFirst = await everyTableCount(db.sql);
    await runSeed(db.orm, db.config);
    afterSecond = await everyTableCount(db.sql);
  }, 120_000);
  afterAll(async () => {
    await db?.orm.close();
    await db?.sql.end();
  });

  it('adds nothing on a second run, in any table', () => {
    expect(afterFirst.users).toBe(Object.keys(SEED_USERS).length);
    expect(afterFirst.credit_transactions).toBeGreaterThan(0);
    expect(afterSecond).toEqual(afterFirst);
  });

  it("leaves every user's balance equal to the sum of their completed ledger rows", async () => {
    expect(await balanceMismatches(db.sql)).toEqual([]);
    const audit = await auditLedger(db.orm.em.fork());
    // Every user's personal account, and the demo team's.
    expect(audit).toMatchObject({ usersChecked: Object.keys(SEED_USERS).length, accountsChecked: Object.keys(SEED_USERS).length + 2, driftedCount: 0, ok: true });
  });

  it('has a user with no credits and no history', async () => {
    expect(await balanceOf(db.sql, SEED_USERS.zero.id)).toBe(0);
    expect(await ledgerOf(db.sql, SEED_USERS.zero.id)).toEqual([]);
  });

  it('has a user with credits', async () => {
    expect(await balanceOf(db.sql, SEED_USERS.rich.id)).toBeGreaterThanOrEqual(100);
  });

  it('has a user with a transaction history of several kinds', async () => {
    const rows = await ledgerOf(db.sql, SEED_USERS.history.id);
    expect(rows.length).toBeGreaterThanOrEqual(10);
    expect(new Set(rows.map((row) => row.type))).toEqual(new Set(['grant', 'purchase', 'consumption']));
  });

  it('has a user with a refunded purchase', async () => {
    const rows = await ledgerOf(db.sql, SEED_USERS.refunded.id);
    const refund = rows.find((row) => row.type === 'refund');
    expect(refund).toMatchObject({ status: 'completed' });
    expect(refund!.amount).toBeLessThan(0);
    expect(rows.find((row) => row.id === refund!.refund_of_id)).toMatchObject({ type: 'purchase', status: 'completed' });
  });

  it('has a user in the middle of onboarding, and the others onboarded', async () => {
    const { rows } = await db.sql.query(`select id, onboarding_complete, onboarding_completed_at from users order by id`);
    const onboarding = rows.find((row) => row.id === SEED_USERS.onboarding.id);
    expect(onboarding).toMatchObject({ onboarding_complete: false, onboarding_completed_at: null });
    expect(await balanceOf(db.sql, SEED_USERS.onboarding.id)).toBeGreaterThan(0);
    expect(rows.filter((row) => !row.onboarding_complete).map((row) => row.id)).toEqual([SEED_USERS.onboarding.id]);
  });

  it(`has a user with ${WORKSHOP_COUNT} workshops, some of them charged`, async () => {
    const { rows } = await db.sql.query(
      `select count(*)::int as total, count(credit_consumed_at)::int as charged from workshops where user_id = $1 and deleted_at is null`,
      [SEED_USERS.workshops.id],
    );
    expect(WORKSHOP_COUNT).toBe(50);
    expect(rows[0].total).toBe(50);
    expect(rows[0].charged).toBeGreaterThan(0);
    expect(rows[0].charged).toBeLessThan(50);
  });

  it('has a user whose balance is exactly the workshop cost, with a workshop still to pay for', async () => {
    expect(await balanceOf(db.sql, SEED_USERS.exact.id)).toBe(db.config.workshopCreditCost);
    const { rows } = await db.sql.query(`select count(*)::int as n from workshops where user_id = $1 and credit_consumed_at is null`, [
      SEED_USERS.exact.id,
    ]);
    expect(rows[0].n).toBeGreaterThanOrEqual(1);
  });

  it('has a user with expiring credits, an open hold and resolved reservations', async () => {
    const holds = SEED_USERS.holds.id;
    const { rows: users } = await db.sql.query('select credit_balance, held_credits, expiring_credits from accounts where id = $1', [holds]);
    // 50 + 20 promotional - 5 spent (from the promotion first) - 4 captured (from the promotion first); 10 held.
    expect(users[0]).toEqual({ credit_balance: 61, held_credits: 10, expiring_credits: 11 });
    const { rows: reservations } = await db.sql.query(
      'select amount, status, captured_amount from reservations where account_id = $1 order by amount desc',
      [holds],
    );
    expect(reservations).toEqual([
      { amount: 10, status: 'held', captured_amount: null },
      { amount: 6, status: 'captured', captured_amount: 4 },
      { amount: 3, status: 'released', captured_amount: null },
    ]);
    const { rows: grants } = await db.sql.query('select amount, remaining from credit_grants where account_id = $1', [holds]);
    expect(grants).toEqual([{ amount: 20, remaining: 11 }]);
    const { rows: allocations } = await db.sql.query(
      'select a.amount from credit_allocations a join credit_transactions t on t.id = a.transaction_id where t.account_id = $1 order by t.posting_seq',
      [holds],
    );
    expect(allocations.map((row) => row.amount)).toEqual([5, 4]);
  });

  it('has a pending and a failed purchase that moved no credits', async () => {
    const rows = await ledgerOf(db.sql, SEED_USERS.purchases.id);
    const purchases = rows.filter((row) => row.type === 'purchase');
    expect(purchases.map((row) => row.status).sort()).toEqual(['failed', 'pending']);
    for (const row of purchases) expect(row.stripe_session_id).toMatch(/^cs_/);
    expect(await balanceOf(db.sql, SEED_USERS.purchases.id)).toBe(0);
  });

  it('has a soft-deleted user who keeps their ledger', async () => {
    const { rows } = await db.sql.query(`select deleted_at from users where id = $1`, [SEED_USERS.deleted.id]);
    expect(rows[0].deleted_at).toBeInstanceOf(Date);
    expect((await ledgerOf(db.sql, SEED_USERS.deleted.id)).length).toBeGreaterThan(0);
    const { rows: live } = await db.sql.query(`select id from users where deleted_at is not null`);
    expect(live.map((row) => row.id)).toEqual([SEED_USERS.deleted.id]);
  });

  it('has an admin', async () => {
    const { rows } = await db.sql.query(`select id from users where 'admin' = any(roles)`);
    expect(rows.map((row) => row.id)).toEqual([SEED_USERS.admin.id]);
  });

  it('has a team wallet: an owner, an admin, two members (one limited), a purchase, shared spending and a hold', async () => {
    const { rows: members } = await db.sql.query(
      `select user_id, role, monthly_spend_limit, spent_credits, held_credits from organization_members where organization_id = $1 order by user_id`,
      [SEED_ORGANIZATION.id],
    );
    expect(members).toEqual([
      { user_id: SEED_USERS.demo.id, role: 'owner', monthly_spend_limit: null, spent_credits: 2, held_credits: 0 },
      { user_id: SEED_USERS.orgAdmin.id, role: 'admin', monthly_spend_limit: null, spent_credits: 0, held_credits: 0 },
      { user_id: SEED_USERS.orgMember.id, role: 'member', monthly_spend_limit: 30, spent_credits: 5, held_credits: 0 },
      { user_id: SEED_USERS.orgMember2.id, role: 'member', monthly_spend_limit: null, spent_credits: 3, held_credits: 4 },
    ]);
    const { rows: account } = await db.sql.query('select credit_balance, held_credits from accounts where id = $1', [SEED_ORGANIZATION.id]);
    // 20 bought + 50 granted - 5 - 3 - 2 spent, 4 of it held.
    expect(account).toEqual([{ credit_balance: 60, held_credits: 4 }]);
    const { rows: types } = await db.sql.query(
      `select type, status, actor_id from credit_transactions where account_id = $1 order by posting_seq`,
      [SEED_ORGANIZATION.id],
    );
    expect(types.map((r) => r.type)).toEqual(['purchase', 'grant', 'consumption', 'consumption', 'consumption']);
    expect(types.filter((r) => r.type === 'consumption').map((r) => r.actor_id)).toEqual([SEED_USERS.orgMember.id, SEED_USERS.orgMember2.id, SEED_USERS.demo.id]);
  });

  it('has subscriptions: a paying user, a paying team, a trial and a past-due renewal, each with its period grants', async () => {
    const { rows } = await db.sql.query(
      `select a.id, a.plan_tier, a.subscription_status, a.stripe_subscription_id, a.credit_balance,
         (select count(*)::int from credit_transactions t where t.account_id = a.id and t.idempotency_key like 'subscription:%') as period_grants,
         (select count(*)::int from credit_transactions t where t.account_id = a.id and t.type = 'plan_change') as plan_changes
       from accounts a where a.stripe_subscription_id is not null order by a.id`,
    );
    const byId = Object.fromEntries(rows.map((row) => [row.id, row]));
    expect(byId[SEED_USERS.subscriber.id]).toMatchObject({ plan_tier: 'pro', subscription_status: 'active', period_grants: 1, plan_changes: 1, credit_balance: 380 });
    expect(byId[SEED_SUBSCRIBED_ORGANIZATION.id]).toMatchObject({ plan_tier: 'team', subscription_status: 'active', period_grants: 1, credit_balance: 2455 });
    expect(byId[SEED_USERS.trial.id]).toMatchObject({ plan_tier: 'pro', subscription_status: 'trialing', period_grants: 1, credit_balance: 500 });
    // The paid period ended five days ago; the current one's payment failed, so it brought nothing.
    expect(byId[SEED_USERS.pastDue.id]).toMatchObject({ plan_tier: 'pro', subscription_status: 'past_due', period_grants: 1 });
    expect(rows).toHaveLength(4);
  });

  it('has the demo user the start-up banner signs a token for', async () => {
    const { rows } = await db.sql.query(`select a.credit_balance from users u join accounts a on a.id = u.id where u.clerk_user_id = 'user_demo'`);
    expect(rows).toHaveLength(1);
    expect(rows[0].credit_balance).toBeGreaterThan(0);
  });

  it('has a catalogue of 1, 5 and 20 credit packs', async () => {
    const { rows } = await db.sql.query(`select credits, price_cents, currency, active from credit_packs order by credits`);
    expect(rows.map((row) => row.credits)).toEqual([1, 5, 20]);
    for (const row of rows) expect(row).toMatchObject({ currency: 'usd', active: true });
    expect(rows.every((row) => row.price_cents > 0)).toBe(true);
  });
});

describe('the development seed with a costlier workshop', () => {
  let db: Awaited<ReturnType<typeof seededDatabase>>;

  beforeAll(async () => {
    db = await seededDatabase({ WORKSHOP_CREDIT_COST: '30' });
  });
  afterAll(async () => {
    await db?.orm.close();
    await db?.sql.end();
  });

  it('still seeds (twice), with balances that match the ledger and the exact-cost user at the new cost', async () => {
    await runSeed(db.orm, db.config);
    const first = await everyTableCount(db.sql);
    await runSeed(db.orm, db.config);
    expect(await everyTableCount(db.sql)).toEqual(first);
    expect(await balanceOf(db.sql, SEED_USERS.exact.id)).toBe(30);
    expect(await balanceMismatches(db.sql)).toEqual([]);
    expect((await auditLedger(db.orm.em.fork())).ok).toBe(true);
  }, 120_000);
});

describe('npm run db:seed (the compiled seed CLI)', () => {
  const pools: pg.Pool[] = [];
  afterAll(async () => {
    await stopAllProcesses();
    await Promise.all(pools.map((pool) => pool.end()));
  });

  const parseCounts = (stdout: string) =>
    Object.fromEntries([...stdout.matchAll(/^(\w+)\s+(\d+) rows \(([+-]\d+)\)$/gm)].map(([, table, rows, added]) => [table, { rows: Number(rows), added: Number(added) }]));

  it('prints what it added: everything the first time, +0 the second', async () => {
    const url = await createTestDatabase();
    const sql = sqlPool(url);
    pools.push(sql);
    const env = cleanEnv({ DATABASE_URL: url, NODE_ENV: 'development' });

    const first = await runNode(['dist/src/cli/seed.js'], env);
    expect(first.code).toBe(0);
    const firstCounts = parseCounts(first.stdout);
    expect(Object.keys(firstCounts).sort()).toEqual(['credit_packs', 'credit_transactions', 'users', 'workshops']);
    for (const { rows, added } of Object.values(firstCounts)) expect(added).toBe(rows);
    expect(firstCounts.users).toEqual({ rows: Object.keys(SEED_USERS).length, added: Object.keys(SEED_USERS).length });

    const second = await runNode(['dist/src/cli/seed.js'], env);
    expect(second.code).toBe(0);
    const secondCounts = parseCounts(second.stdout);
    expect(secondCounts).toEqual(Object.fromEntries(Object.entries(firstCounts).map(([table, { rows }]) => [table, { rows, added: 0 }])));
    expect(second.stdout).not.toMatch(/\(\+[1-9]/);
    expect(await balanceMismatches(sql)).toEqual([]);
  }, 180_000);
});
