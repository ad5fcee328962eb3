import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type pg from 'pg';
import { createTestDatabase, sqlPool } from '../support/database.js';
import { stopAllProcesses, waitUntil } from '../support/processes.js';
import { spawnApi, type SpawnedApi } from '../support/spawned-api.js';
import type { TestServer } from '../support/server.js';
import { deliver, type Delivery, stripeEvent } from '../support/billing.js';
import { auditDatabase } from '../support/ledger.js';

const WEBHOOK_SECRET = 'whsec_tallybilling0123456789';
const USER = 'usr_webhookkill';
const SESSION = 'cs_test_killed_midway';

/**
 * The process serving a Stripe delivery dies inside its database transaction (the purchase is credited and the
 * event row is being written when SIGKILL lands). Nothing may survive half-done, and Stripe's retry to the restarted
 * service credits the payment exactly once.
 */
describe('a webhook whose handler is killed midway', () => {
  let databaseUrl: string;
  let sql: pg.Pool;
  let api: SpawnedApi | undefined;
  const event = stripeEvent('checkout.session.completed', {
    id: SESSION,
    object: 'checkout.session',
    mode: 'payment',
    payment_status: 'paid',
    status: 'complete',
    payment_intent: 'pi_killed_midway',
    client_reference_id: USER,
    metadata: { userId: USER, packId: 'pack_kill' },
    amount_total: 900,
    currency: 'usd',
  });
  const target = (url: string) => ({ url }) as TestServer;
  let killedDelivery: Delivery | Error;
  let afterKill: { balance: number; purchases: number; events: number };
  let retries: Delivery[];

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    sql = sqlPool(databaseUrl);
    const database = new URL(databaseUrl).pathname.slice(1);
    // PostgreSQL then notices within 100 ms that the client of a running statement has gone, as it would a crashed
    // API host, and rolls its transaction back.
    await sql.query(`alter database ${database} set client_connection_check_interval = '100ms'`);
    await sql.query(`insert into accounts (id, kind) values ($1, 'personal')`, [USER]);
    await sql.query(`insert into users (id, clerk_user_id) values ($1, 'user_webhook_kill')`, [USER]);
    await sql.query(`insert into credit_packs (id, name, credits, price_cents) values ('pack_kill', 'Five', 5, 900)`);
    // Holds the handler inside its transaction, after the ledger effect, while the event row is written.
    await sql.query(`create function hold_event() returns trigger language plpgsql as $$
      begin perform pg_sleep(60); return new; end $$`);
    await sql.query('create trigger hold_event before insert on stripe_events for each row execute function hold_event()');

    const env = { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET };
    api = await spawnApi({ databaseUrl, env });
    const delivery = deliver(target(api.url), event).catch((error: Error) => error);
    await waitUntil(
      async () => (await sql.query(`select 1 from pg_stat_activity where query like 'insert into stripe_events%' and state = 'active'`)).rowCount === 1,
      { timeoutMs: 30_000, what: 'the handler inside its transaction', intervalMs: 20 },
    );
    await api.kill();
    killedDelivery = await delivery;
    await waitUntil(
      async () => (await sql.query(`select 1 from pg_stat_activity where query like 'insert into stripe_events%'`)).rowCount === 0,
      { timeoutMs: 30_000, what: 'PostgreSQL to roll the dead handler back' },
    );
    afterKill = await state();

    await sql.query('drop trigger hold_event on stripe_events');
    api = await spawnApi({ databaseUrl, env });
    retries = [];
    for (let i = 0; i < 3; i++) retries.push(await deliver(target(api.url), event));
  }, 180_000);

  afterAll(async () => {
    await stopAllProcesses();
    await sql?.end();
  });

  async function state() {
    const { rows } = await sql.query(
      `select (select credit_balance from accounts where id = $1) as balance,
              (select count(*)::int from credit_transactions where stripe_session_id = $2) as purchases,
              (select count(*)::int from stripe_events) as events`,
      [USER, SESSION],
    );
    return rows[0] as { balance: number; purchases: number; events: number };
  }

  it('left nothing half-done: no credit, no purchase row, no event row', () => {
    // The delivery got no answer (the error comes from fetch's own realm, so no instanceof here).
    expect(killedDelivery).not.toHaveProperty('status');
    expect(String((killedDelivery as Error).message)).toMatch(/fetch failed|socket|terminated/i);
    expect(afterKill).toEqual({ balance: 0, purchases: 0, events: 0 });
  });

  it("credits the payment once on Stripe's retries to the restarted service", async () => {
    expect(retries.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(retries[0]!.body).toMatchObject({ received: true, outcome: 'credited' });
    expect(retries.slice(1).every((r) => r.body?.duplicate === true)).toBe(true);
    expect(await state()).toEqual({ balance: 5, purchases: 1, events: 1 });
    const { rows } = await sql.query(`select status, amount, balance_after from credit_transactions where stripe_session_id = $1`, [SESSION]);
    expect(rows).toEqual([{ status: 'completed', amount: 5, balance_after: 5 }]);
    expect((await auditDatabase(databaseUrl)).ok).toBe(true);
  });
});
