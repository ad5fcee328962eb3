import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MikroORM } from '@mikro-orm/postgresql';
import type pg from 'pg';
import { ormOptions } from '../../src/orm.js';
import { createTestDatabase, sqlPool } from '../support/database.js';
import { appliedMigrations, columnNames, constraintNames, indexNames, tableNames } from '../support/schema.js';

const BILLING = 'Migration20261115000000_billing';
const RESERVATIONS = 'Migration20261124000000_reservations';
const NEW_TABLES = ['credit_allocations', 'credit_grants', 'reservations'];

/** The reservations migration on a database that already holds a live ledger: additive, reversible, one transaction. */
describe('the reservations migration', () => {
  let orm: MikroORM;
  let sql: pg.Pool;
  let ledgerBefore: unknown[];

  beforeAll(async () => {
    const url = await createTestDatabase({ empty: true });
    orm = await MikroORM.init(ormOptions({ clientUrl: url, poolMax: 2 }));
    sql = sqlPool(url);
    await orm.migrator.up({ to: BILLING });
    await sql.query(`insert into users (id, clerk_user_id, credit_balance) values ('usr_m1', 'user_m1', 7), ('usr_m2', 'user_m2', 0)`);
    await sql.query(
      `insert into credit_transactions (id, user_id, type, status, amount, balance_after, description, effective_at) values
       ('ctx_m1', 'usr_m1', 'grant', 'completed', 10, 10, 'welcome', now()),
       ('ctx_m2', 'usr_m1', 'consumption', 'completed', -3, 7, 'chat', now()),
       ('ctx_m3', 'usr_m2', 'purchase', 'pending', 50, 0, 'pack', null)`,
    );
    ledgerBefore = (await sql.query('select * from credit_transactions order by posting_seq')).rows;
  });
  afterAll(async () => {
    await orm?.close();
    await sql?.end();
  });

  it('applies over existing rows: nothing held, nothing expiring, the ledger untouched and still clean', async () => {
    expect((await orm.migrator.up({ to: RESERVATIONS })).map((m) => m.name)).toEqual([RESERVATIONS]);
    expect(await tableNames(sql)).toEqual(expect.arrayContaining(NEW_TABLES));
    expect((await sql.query('select id, credit_balance, held_credits, expiring_credits from users order by id')).rows).toEqual([
      { id: 'usr_m1', credit_balance: 7, held_credits: 0, expiring_credits: 0 },
      { id: 'usr_m2', credit_balance: 0, held_credits: 0, expiring_credits: 0 },
    ]);
    expect((await sql.query('select * from credit_transactions order by posting_seq')).rows).toEqual(ledgerBefore);
    // Invariant 2 as the schema of that time reads it (today's audit reads the accounts of a later migration).
    const drifted = await sql.query(
      `select u.id from users u left join credit_transactions t on t.user_id = u.id and t.status = 'completed'
       group by u.id having u.credit_balance <> coalesce(sum(t.amount), 0)`,
    );
    expect(drifted.rows).toEqual([]);
    expect(await indexNames(sql, 'credit_transactions')).toContain('credit_transactions_user_effective_index');
    expect(await constraintNames(sql, 'users')).toEqual(expect.arrayContaining(['users_held_credits_check', 'users_expiring_credits_check']));
  });

  it('backs the new rules with the database', async () => {
    await expect(sql.query(`update users set held_credits = 8 where id = 'usr_m1'`)).rejects.toMatchObject({ constraint: 'users_held_credits_check' });
    await expect(sql.query(`update users set expiring_credits = -1 where id = 'usr_m1'`)).rejects.toMatchObject({
      constraint: 'users_expiring_credits_check',
    });
    await expect(
      sql.query(`insert into credit_transactions (id, user_id, type, status, amount, balance_after, description)
                 values ('ctx_bad', 'usr_m1', 'expiration', 'completed', 3, 10, 'positive expiration')`),
    ).rejects.toMatchObject({ constraint: 'credit_transactions_amount_sign_check' });
    await expect(
      sql.query(`insert into credit_grants (transaction_id, user_id, amount, remaining, expires_at) values ('ctx_m1', 'usr_m1', 10, 11, now())`),
    ).rejects.toMatchObject({ constraint: 'credit_grants_remaining_check' });
  });

  it('rolls back while no EXPIRATION row exists, and refuses to (changing nothing) once one does', async () => {
    expect((await orm.migrator.down()).map((m) => m.name)).toEqual([RESERVATIONS]);
    expect(await appliedMigrations(sql)).toEqual(['Migration20261101000000_app', BILLING]);
    for (const table of NEW_TABLES) expect(await tableNames(sql)).not.toContain(table);
    expect(await columnNames(sql, 'users')).not.toContain('held_credits');
    expect((await sql.query('select * from credit_transactions order by posting_seq')).rows).toEqual(ledgerBefore);

    await orm.migrator.up({ to: RESERVATIONS });
    await sql.query(
      `insert into credit_transactions (id, user_id, type, status, amount, balance_after, description, effective_at)
       values ('ctx_m4', 'usr_m1', 'expiration', 'completed', 0, 7, 'nothing left to expire', now())`,
    );
    await expect(orm.migrator.down()).rejects.toThrow(/credit_transactions_type_check|check constraint/);
    expect(await appliedMigrations(sql)).toEqual(['Migration20261101000000_app', BILLING, RESERVATIONS]);
    expect(await tableNames(sql)).toEqual(expect.arrayContaining(NEW_TABLES));
  });
});
