import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MikroORM } from '@mikro-orm/postgresql';
import type pg from 'pg';
import { ormOptions } from '../../src/orm.js';
import { migrationsList } from '../../migrations/index.js';
import { createTestDatabase, sqlPool } from '../support/database.js';
import { appliedMigrations, columnNames, constraintNames, indexNames, sequenceNames, tableNames } from '../support/schema.js';

const APP = 'Migration20261101000000_app';
const BILLING = 'Migration20261115000000_billing';

const BILLING_USER_COLUMNS = ['credit_balance', 'onboarding_complete', 'onboarding_completed_at', 'stripe_customer_id', 'plan_tier'];
const BILLING_TABLES = ['credit_packs', 'credit_transactions', 'stripe_events'];

interface Migrated {
  orm: MikroORM;
  sql: pg.Pool;
}

async function emptyDatabase(): Promise<Migrated> {
  const url = await createTestDatabase({ empty: true });
  return { orm: await MikroORM.init(ormOptions({ clientUrl: url, poolMax: 2 })), sql: sqlPool(url) };
}

const names = (migrations: { name: string }[]) => migrations.map((migration) => migration.name);

/** The migrations that come after `name`, so that adding a migration later does not change these tests. */
const after = (name: string) => names(migrationsList).slice(names(migrationsList).indexOf(name) + 1);

/** What the workshop app wrote before billing existed: plain rows, some columns left to their defaults. */
async function insertPreBillingRows(sql: pg.Pool) {
  await sql.query(
    `insert into users (id, clerk_user_id, email, first_name, last_name, image_url, company, roles, deleted_at, created_at, updated_at) values
     ('usr_old1', 'user_old1', 'one@example.com', 'Olga', 'One', 'https://img.example.com/1.png', 'Acme', '{}', null,
      '2026-10-01T08:00:00Z', '2026-10-02T08:00:00Z'),
     ('usr_old2', 'user_old2', null, null, null, null, null, '{admin}', null, '2026-10-03T08:00:00Z', '2026-10-03T08:00:00Z'),
     ('usr_old3', 'user_old3', 'gone@example.com', 'Gus', 'Gone', null, null, '{}', '2026-10-20T08:00:00Z',
      '2026-10-04T08:00:00Z', '2026-10-20T08:00:00Z')`,
  );
  // Only the required columns: status, created_at and updated_at come from the first migration's defaults.
  await sql.query(`insert into users (id, clerk_user_id) values ('usr_old4', 'user_old4')`);
  await sql.query(
    `insert into workshops (id, user_id, title, status, created_at, updated_at) values
     ('ws_old1', 'usr_old1', 'Kick-off', 'active', '2026-10-05T08:00:00Z', '2026-10-05T08:00:00Z'),
     ('ws_old2', 'usr_old1', 'Retro', 'completed', '2026-10-06T08:00:00Z', '2026-10-07T08:00:00Z'),
     ('ws_old3', 'usr_old2', 'Planning', 'paused', '2026-10-08T08:00:00Z', '2026-10-08T08:00:00Z')`,
  );
  await sql.query(`insert into workshops (id, user_id, title) values ('ws_old4', 'usr_old4', 'Draft by default')`);
}

const allRows = async (sql: pg.Pool, table: string, columns: string[]) =>
  (await sql.query(`select ${columns.map((c) => `"${c}"`).join(', ')} from ${table} order by id`)).rows;

describe('migrations on a database that already holds the pre-billing app', () => {
  let db: Migrated;
  let appUserColumns: string[];
  let appWorkshopColumns: string[];
  let usersBefore: Record<string, unknown>[];
  let workshopsBefore: Record<string, unknown>[];

  beforeAll(async () => {
    db = await emptyDatabase();
  });
  afterAll(async () => {
    await db?.orm.close();
    await db?.sql.end();
  });

  it('applies the first migration alone: users and workshops, nothing of billing', async () => {
    expect(names(await db.orm.migrator.up({ to: APP }))).toEqual([APP]);
    expect(await appliedMigrations(db.sql)).toEqual([APP]);
    expect(await tableNames(db.sql)).toEqual(['mikro_orm_migrations', 'users', 'workshops']);
    appUserColumns = await columnNames(db.sql, 'users');
    appWorkshopColumns = await columnNames(db.sql, 'workshops');
    for (const column of BILLING_USER_COLUMNS) expect(appUserColumns).not.toContain(column);
    expect(appWorkshopColumns).not.toContain('credit_consumed_at');
    expect(names(await db.orm.migrator.getPending())).toEqual(after(APP));
  });

  it('takes rows written by the pre-billing app', async () => {
    await insertPreBillingRows(db.sql);
    usersBefore = await allRows(db.sql, 'users', appUserColumns);
    workshopsBefore = await allRows(db.sql, 'workshops', appWorkshopColumns);
    expect(usersBefore).toHaveLength(4);
    expect(workshopsBefore).toHaveLength(4);
    expect(workshopsBefore.find((w) => w.id === 'ws_old4')).toMatchObject({ status: 'draft' });
  });

  it('applies the billing migration: every row survives, new columns take their defaults', async () => {
    expect(names(await db.orm.migrator.up({ to: BILLING }))).toEqual([BILLING]);
    expect(await appliedMigrations(db.sql)).toEqual([APP, BILLING]);
    expect(await tableNames(db.sql)).toEqual(expect.arrayContaining(BILLING_TABLES));

    expect(await allRows(db.sql, 'users', appUserColumns)).toEqual(usersBefore);
    expect(await allRows(db.sql, 'workshops', appWorkshopColumns)).toEqual(workshopsBefore);

    const users = await allRows(db.sql, 'users', ['id', ...BILLING_USER_COLUMNS]);
    expect(users).toHaveLength(4);
    for (const user of users) {
      expect(user).toEqual({
        id: user.id,
        credit_balance: 0,
        onboarding_complete: false,
        onboarding_completed_at: null,
        stripe_customer_id: null,
        plan_tier: 'free',
      });
    }
    const workshops = await allRows(db.sql, 'workshops', ['id', 'credit_consumed_at']);
    expect(workshops).toEqual(workshopsBefore.map((w) => ({ id: w.id, credit_consumed_at: null })));
  });

  it('backs the new rules with the database once billing is applied', async () => {
    await expect(db.sql.query(`update users set credit_balance = -1 where id = 'usr_old1'`)).rejects.toMatchObject({
      code: '23514',
      constraint: 'users_credit_balance_check',
    });
    await db.sql.query(
      `insert into credit_transactions (id, user_id, type, status, amount, balance_after, description)
       values ('ctx_m1', 'usr_old1', 'grant', 'completed', 5, 5, 'migration test')`,
    );
    const { rows } = await db.sql.query(`select posting_seq from credit_transactions where id = 'ctx_m1'`);
    expect(Number(rows[0].posting_seq)).toBeGreaterThan(0);
  });

  it('rolls the billing migration back: its columns, tables and sequence are gone, the app rows stay', async () => {
    expect(names(await db.orm.migrator.down())).toEqual([BILLING]);
    expect(await appliedMigrations(db.sql)).toEqual([APP]);
    expect(await tableNames(db.sql)).toEqual(['mikro_orm_migrations', 'users', 'workshops']);
    expect(await columnNames(db.sql, 'users')).toEqual(appUserColumns);
    expect(await columnNames(db.sql, 'workshops')).toEqual(appWorkshopColumns);
    expect(await sequenceNames(db.sql)).not.toContain('credit_transactions_posting_seq');
    expect(await constraintNames(db.sql, 'users')).not.toContain('users_credit_balance_check');
    expect(await indexNames(db.sql, 'users')).not.toContain('users_stripe_customer_id_index');
    expect(await allRows(db.sql, 'users', appUserColumns)).toEqual(usersBefore);
    expect(await allRows(db.sql, 'workshops', appWorkshopColumns)).toEqual(workshopsBefore);
  });

  it('applies the billing migration again after the rollback', async () => {
    expect(names(await db.orm.migrator.up({ to: BILLING }))).toEqual([BILLING]);
    expect(await appliedMigrations(db.sql)).toEqual([APP, BILLING]);
    expect(names(await db.orm.migrator.getPending())).toEqual(after(BILLING));
    expect(await allRows(db.sql, 'users', appUserColumns)).toEqual(usersBefore);
    const { rows } = await db.sql.query(
      `select count(*)::int as n from users where credit_balance = 0 and plan_tier = 'free' and not onboarding_complete`,
    );
    expect(rows[0].n).toBe(4);
    expect((await db.sql.query('select count(*)::int as n from credit_transactions')).rows[0].n).toBe(0);
  });
});

describe('the billing migration is all-or-nothing', () => {
  let db: Migrated;

  beforeAll(async () => {
    db = await emptyDatabase();
    await db.orm.migrator.up({ to: APP });
    await insertPreBillingRows(db.sql);
  });
  afterAll(async () => {
    await db?.orm.close();
    await db?.sql.end();
  });

  it('leaves no trace of its earlier statements when a later one fails', async () => {
    // Something that the migration's `create table "credit_packs"` collides with, after it has altered users and workshops.
    await db.sql.query(`create table credit_packs (id int primary key)`);
    await expect(db.orm.migrator.up()).rejects.toThrow(/credit_packs/);

    expect(await appliedMigrations(db.sql)).toEqual([APP]);
    const userColumns = await columnNames(db.sql, 'users');
    for (const column of BILLING_USER_COLUMNS) expect(userColumns).not.toContain(column);
    expect(await columnNames(db.sql, 'workshops')).not.toContain('credit_consumed_at');
    expect(await constraintNames(db.sql, 'users')).not.toContain('users_credit_balance_check');
    expect(await indexNames(db.sql, 'users')).not.toContain('users_stripe_customer_id_index');
    expect(await tableNames(db.sql)).toEqual(['credit_packs', 'mikro_orm_migrations', 'users', 'workshops']);
    expect(await columnNames(db.sql, 'credit_packs')).toEqual(['id']);
    expect(await sequenceNames(db.sql)).toEqual([expect.stringMatching(/^mikro_orm_migrations/)]);
  });

  it('applies once the obstacle is gone, with every row intact', async () => {
    await db.sql.query(`drop table credit_packs`);
    expect(names(await db.orm.migrator.up({ to: BILLING }))).toEqual([BILLING]);
    const { rows } = await db.sql.query(`select count(*)::int as n, sum(credit_balance)::int as credits from users`);
    expect(rows[0]).toEqual({ n: 4, credits: 0 });
    expect((await db.sql.query('select count(*)::int as n from workshops where credit_consumed_at is null')).rows[0].n).toBe(4);
  });
});
