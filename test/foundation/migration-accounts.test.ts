import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MikroORM } from '@mikro-orm/postgresql';
import type pg from 'pg';
import { auditLedger } from '../../src/credits/audit.js';
import { ormOptions } from '../../src/orm.js';
import { createTestDatabase, sqlPool } from '../support/database.js';
import { columnNames, tableNames } from '../support/schema.js';

const HARDENING = 'Migration20261202000000_hardening';
const ACCOUNTS = 'Migration20261203000000_accounts';

/** Every row of the ledger's tables, in a fixed order, as they are stored. */
async function ledgerTables(sql: pg.Pool) {
  const rows = async (query: string) => (await sql.query(query)).rows;
  return {
    transactions: await rows('select * from credit_transactions order by id'),
    reservations: await rows('select * from reservations order by id'),
    grants: await rows('select * from credit_grants order by transaction_id'),
    allocations: await rows('select * from credit_allocations order by transaction_id, grant_id'),
    workshops: await rows('select * from workshops order by id'),
  };
}

/**
 * The accounts migration on a database that already holds a live ledger: every balance, row, hold and grant
 * survives with the same ids and values, the audit stays clean, and the down migration puts it all back.
 */
describe('the accounts migration', () => {
  let orm: MikroORM;
  let sql: pg.Pool;
  let usersBefore: Record<string, unknown>[];
  let tablesBefore: Awaited<ReturnType<typeof ledgerTables>>;

  beforeAll(async () => {
    const url = await createTestDatabase({ empty: true });
    orm = await MikroORM.init(ormOptions({ clientUrl: url, poolMax: 2 }));
    sql = sqlPool(url);
    await orm.migrator.up({ to: HARDENING });
    // Two users: one with history of every kind (a grant, an expiring grant drawn on, a spend, a purchase, an open
    // hold and a captured one, a workshop charge), one with a pending purchase only.
    await sql.query(`insert into users (id, clerk_user_id, credit_balance, held_credits, expiring_credits, plan_tier, stripe_customer_id)
      values ('usr_a1', 'user_a1', 19, 4, 3, 'pro', 'cus_a1'), ('usr_a2', 'user_a2', 0, 0, 0, 'free', null)`);
    await sql.query(`insert into workshops (id, user_id, title, credit_consumed_at) values ('ws_a1', 'usr_a1', 'Charged', now())`);
    await sql.query(
      `insert into credit_transactions (id, user_id, type, status, amount, balance_after, description, feature, idempotency_key,
         workshop_id, stripe_session_id, metadata, effective_at) values
       ('ctx_a1', 'usr_a1', 'grant', 'completed', 10, 10, 'welcome', null, 'grant:w', null, null, '{"grantedBy":"usr_admin"}', now()),
       ('ctx_a2', 'usr_a1', 'grant', 'completed', 5, 15, 'promo', null, 'grant:p', null, null, null, now()),
       ('ctx_a3', 'usr_a1', 'consumption', 'completed', -2, 13, 'chat', 'chat', 'k1', null, null, null, now()),
       ('ctx_a4', 'usr_a1', 'purchase', 'completed', 10, 23, 'pack', null, null, null, 'cs_a1', '{"packId":"pack_x"}', now()),
       ('ctx_a5', 'usr_a1', 'consumption', 'completed', -1, 22, 'Workshop', 'workshop', null, 'ws_a1', null, null, now()),
       ('ctx_a6', 'usr_a1', 'consumption', 'completed', -3, 19, 'capture', 'llm.run', null, null, null, '{"reservationId":"rsv_a2"}', now()),
       ('ctx_a7', 'usr_a2', 'purchase', 'pending', 10, 0, 'pack', null, null, null, 'cs_a2', null, null)`,
    );
    await sql.query(`insert into credit_grants (transaction_id, user_id, amount, remaining, expires_at) values ('ctx_a2', 'usr_a1', 5, 3, now() + interval '1 day')`);
    await sql.query(`insert into credit_allocations (transaction_id, grant_id, amount) values ('ctx_a3', 'ctx_a2', 2)`);
    await sql.query(
      `insert into reservations (id, user_id, amount, status, feature, idempotency_key, request_hash, expires_at, captured_amount, transaction_id, resolved_at) values
       ('rsv_a1', 'usr_a1', 4, 'held', 'llm.run', 'h1', 'x', now() + interval '1 hour', null, null, null),
       ('rsv_a2', 'usr_a1', 3, 'captured', 'llm.run', 'h2', 'y', now() + interval '1 hour', 3, 'ctx_a6', now())`,
    );
    usersBefore = (await sql.query('select * from users order by id')).rows;
    tablesBefore = await ledgerTables(sql);
  });
  afterAll(async () => {
    await orm?.close();
    await sql?.end();
  });

  it('moves every balance onto an account with the user\u2019s own id, keeping every row, hold and grant as it was', async () => {
    expect((await orm.migrator.up({ to: ACCOUNTS })).map((m) => m.name)).toEqual([ACCOUNTS]);
    expect(await tableNames(sql)).toEqual(expect.arrayContaining(['accounts', 'organizations', 'organization_members']));
    expect((await sql.query('select id, kind, credit_balance, held_credits, expiring_credits, open_reservations, plan_tier, stripe_customer_id from accounts order by id')).rows).toEqual([
      { id: 'usr_a1', kind: 'personal', credit_balance: 19, held_credits: 4, expiring_credits: 3, open_reservations: 1, plan_tier: 'pro', stripe_customer_id: 'cus_a1' },
      { id: 'usr_a2', kind: 'personal', credit_balance: 0, held_credits: 0, expiring_credits: 0, open_reservations: 0, plan_tier: 'free', stripe_customer_id: null },
    ]);
    expect(await columnNames(sql, 'users')).not.toEqual(expect.arrayContaining(['credit_balance']));
    // The same rows, the same values: user_id is now account_id (the same value), and the new columns are empty.
    const after = await ledgerTables(sql);
    const asBefore = <T extends Record<string, unknown>>(rows: T[], drop: string[] = []) =>
      rows.map(({ account_id, ...rest }) => {
        const row: Record<string, unknown> = { ...rest, user_id: account_id };
        for (const column of drop) delete row[column];
        return row;
      });
    const sorted = (rows: Record<string, unknown>[]) => rows.map((row) => Object.fromEntries(Object.entries(row).sort(([a], [b]) => a.localeCompare(b))));
    expect(sorted(asBefore(after.transactions, ['actor_id']))).toEqual(sorted(tablesBefore.transactions));
    expect(after.transactions.every((row) => row.actor_id === null)).toBe(true);
    expect(sorted(asBefore(after.reservations, ['actor_id']))).toEqual(sorted(tablesBefore.reservations));
    expect(sorted(asBefore(after.grants))).toEqual(sorted(tablesBefore.grants));
    expect(after.allocations).toEqual(tablesBefore.allocations);
    expect(after.workshops.map(({ account_id, ...rest }) => ({ ...rest, account_id }))).toEqual(
      tablesBefore.workshops.map((row) => ({ ...row, account_id: row.user_id })),
    );
    expect(await auditLedger(orm.em.fork())).toMatchObject({ accountsChecked: 2, driftedCount: 0, ok: true });
  });

  it('goes back down to exactly what there was', async () => {
    expect((await orm.migrator.down()).map((m) => m.name)).toEqual([ACCOUNTS]);
    expect(await tableNames(sql)).not.toEqual(expect.arrayContaining(['accounts']));
    expect((await sql.query('select * from users order by id')).rows).toEqual(usersBefore);
    expect(await ledgerTables(sql)).toEqual(tablesBefore);
  });

  it('refuses to go down (changing nothing) once an organization exists', async () => {
    await orm.migrator.up({ to: ACCOUNTS });
    await sql.query(`insert into accounts (id, kind) values ('org_a1', 'organization')`);
    await sql.query(`insert into organizations (id, name) values ('org_a1', 'Acme')`);
    await expect(orm.migrator.down()).rejects.toThrow(/organizations exist/);
    expect((await sql.query(`select count(*)::int as n from accounts`)).rows[0].n).toBe(3);
    expect((await sql.query('select name from mikro_orm_migrations order by id desc limit 1')).rows[0].name).toBe(ACCOUNTS);
  });
});
