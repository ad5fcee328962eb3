import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from 'graphql-ws';
import { print } from 'graphql';
import { migrationsList } from '../../migrations/index.js';
import { sessionTimeouts } from '../../src/database/database.js';
import { ALLOWANCE_RACES_ENV, allowanceRaces } from '../cases/allowance-races.js';
import { paymentStorm } from '../cases/payment-storm.js';
import { RESERVATION_RACES_ENV, reservationRaces } from '../cases/reservation-races.js';
import { SPENDING_RACES_ENV, spendingRaces } from '../cases/spending-races.js';
import { CreditBalanceDocument } from '../generated/graphql.js';
import { billingEnv, seedPacks, startBillingStripe } from '../support/billing.js';
import { consumeOnce, postGraphQL, provision } from '../support/consume-load.js';
import { key } from '../support/credits.js';
import { adminQuery, createTestDatabase, sqlPool } from '../support/database.js';
import { lockUserRow, sendAndHangUpLater, waitingStatements } from '../support/hang-up.js';
import { balanceOf, creditProblems, grantAsAdmin, ledgerRows } from '../support/ledger.js';
import { bearer, connectLive, liveUpdates, watchBalance } from '../support/live.js';
import { startPgBouncer, type PgBouncer } from '../support/pgbouncer.js';
import { waitUntil } from '../support/processes.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { spawnApi, type SpawnedApi } from '../support/spawned-api.js';
import type { StripeStandIn } from '../support/stripe-stand-in.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/**
 * Two API instances behind PgBouncer in transaction pooling mode, in front of one PostgreSQL (the tests' embedded
 * cluster), as README "Behind a transaction pooler" describes: the races, sweepers, allowances and Stripe webhook
 * storms that other files run against one database directly are fought here between two instances whose every
 * statement goes through the pooler, with fewer server connections than the instances hold (so consecutive
 * statements of one client land on different server connections). Each group has a database of its own; each
 * instance LISTENs and migrates over DATABASE_DIRECT_URL, and sends no named prepared statement.
 *
 * PgBouncer must be installed (`apt-get install -y pgbouncer`; .ci/run installs it): without it this file fails.
 * Internal by design where it reads the timeouts a pooled session runs under (database/database.ts).
 */

/** The settings of an instance behind the pooler (with DATABASE_URL naming PgBouncer and DATABASE_DIRECT_URL PostgreSQL). */
const POOLED_ENV = { DATABASE_PREPARED_STATEMENTS: 'false' };

/** The timeouts the pooled sessions run under: the database's own (PgBouncer ignores the pool's start-up parameters). */
const DATABASE_TIMEOUTS = { statementTimeoutMs: 5_000, idleInTransactionSessionTimeoutMs: 20_000 };

const CONSUME = 'mutation($input: ConsumeCreditsInput!) { consumeCredits(input: $input) { id balanceAfter } }';

describe('two instances behind PgBouncer (transaction pooling)', () => {
  let bouncer: PgBouncer;
  beforeAll(async () => {
    bouncer = await startPgBouncer({ poolSize: 8 });
  });
  afterAll(async () => {
    await bouncer?.stop();
  });

  /** A fresh database with the server-side timeouts a pooled deployment sets, and its URLs direct and through PgBouncer. */
  async function pooledDatabase(options: { empty?: boolean; timeouts?: typeof DATABASE_TIMEOUTS } = {}) {
    const direct = await createTestDatabase(options);
    const name = new URL(direct).pathname.slice(1);
    const timeouts = options.timeouts ?? DATABASE_TIMEOUTS;
    await adminQuery(`alter database ${name} set statement_timeout = ${timeouts.statementTimeoutMs}`);
    await adminQuery(`alter database ${name} set idle_in_transaction_session_timeout = ${timeouts.idleInTransactionSessionTimeoutMs}`);
    return { name, direct, pooled: bouncer.urlFor(direct) };
  }

  /**
   * Two in-process instances on a database of their own, through PgBouncer, for the enclosing describe; `env` is read
   * when they start (after the describe's earlier beforeAll hooks).
   */
  function twoInstances(
    env: () => Record<string, string>,
    options: { setUp?: (instances: TestServer[]) => Promise<void>; timeouts?: typeof DATABASE_TIMEOUTS } = {},
  ) {
    const world = { instances: [] as TestServer[], database: '' };
    beforeAll(async () => {
      const { name, direct, pooled } = await pooledDatabase({ timeouts: options.timeouts });
      world.database = name;
      for (let i = 0; i < 2; i++) {
        world.instances.push(await startTestServer({ databaseUrl: pooled, env: { ...env(), ...POOLED_ENV, DATABASE_DIRECT_URL: direct } }));
      }
      await options.setUp?.(world.instances);
    });
    afterAll(async () => {
      for (const instance of world.instances) await instance.close();
    });
    return world;
  }

  describe('spending races between the instances', () => {
    const world = twoInstances(() => SPENDING_RACES_ENV);
    spendingRaces(() => world.instances);

    it('shares fewer server connections than the instances hold, which run under the database’s own timeouts', async () => {
      const sub = uniqueSub('many');
      await userIdOf(world.instances[0]!, sub);
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => world.instances[i % 2]!.as(sub).execute(CreditBalanceDocument)));
      expect(answers.map((answer) => answer.data?.creditBalance)).toEqual(Array(40).fill(10));
      const pools = await bouncer.show('POOLS', world.database);
      const servers = ['sv_active', 'sv_idle', 'sv_used', 'sv_tested', 'sv_login'].reduce((sum, column) => sum + Number(pools[column]), 0);
      expect(servers).toBeLessThanOrEqual(bouncer.poolSize);
      expect(Number(pools.cl_active) + Number(pools.cl_waiting)).toBeGreaterThan(bouncer.poolSize);
      expect(Number((await bouncer.show('STATS', world.database)).total_xact_count)).toBeGreaterThan(200);
      expect(await sessionTimeouts(world.instances[0]!.orm)).toEqual(DATABASE_TIMEOUTS);
    });
  });

  describe('reservation races and two sweepers', () => {
    const world = twoInstances(() => RESERVATION_RACES_ENV);
    reservationRaces(() => world.instances);
  });

  describe('allowances and sweeps on both instances', () => {
    const world = twoInstances(() => ALLOWANCE_RACES_ENV);
    allowanceRaces(() => [world.instances[0]!, world.instances[1]!]);
  });

  describe('Stripe webhook storms delivered to both instances', () => {
    let stripe: StripeStandIn;
    beforeAll(async () => {
      stripe = await startBillingStripe();
    });
    const world = twoInstances(() => billingEnv(stripe), { setUp: (instances) => seedPacks(instances[0]!) });
    afterAll(() => stripe?.close());
    paymentStorm(() => ({ servers: world.instances, stripe }));
  });

  describe('a client that hangs up', () => {
    // Timeouts far beyond the test's waits: only a cancel can stop the statement in time.
    const world = twoInstances(() => ({ ADMIN_USER_IDS: ADMIN_SUB, DATABASE_STATEMENT_TIMEOUT_MS: '60000' }), {
      timeouts: { statementTimeoutMs: 60_000, idleInTransactionSessionTimeoutMs: 240_000 },
    });

    it('has its consumption cancelled on the server through PgBouncer', async () => {
      const [server] = world.instances;
      const sub = uniqueSub('gone');
      const userId = await userIdOf(server!, sub);
      await grantAsAdmin(server!, userId, 5);
      const lock = await lockUserRow(server!.sql, userId);
      const statement = '%update accounts set credit_balance%';
      try {
        const hangUp = await sendAndHangUpLater(server!.url, sub, CONSUME, { input: { amount: 1, feature: 'gone', idempotencyKey: 'gone-1' } });
        await waitUntil(async () => (await waitingStatements(server!.sql, statement)) === 1, { timeoutMs: 10_000, what: 'the consumption to wait' });
        hangUp();
        // It stops waiting while the lock is still held: cancelled, by a cancel request PgBouncer passed on.
        await waitUntil(async () => (await waitingStatements(server!.sql, statement)) === 0, { timeoutMs: 5_000, what: 'the cancel' });
      } finally {
        await lock.release();
      }
      expect((await ledgerRows(server!, userId)).filter((row) => row.idempotency_key === 'gone-1')).toEqual([]);
      expect(await balanceOf(server!, userId)).toBe(5);
      expect(await creditProblems(server!, userId)).toEqual([]);
    });
  });

  describe('two API processes started as in production', () => {
    let a: SpawnedApi;
    let b: SpawnedApi;
    let live: Client | undefined;
    let directUrl = '';

    beforeAll(async () => {
      // An empty database: the first process migrates it at start-up, over DATABASE_DIRECT_URL.
      const { direct, pooled } = await pooledDatabase({ empty: true });
      directUrl = direct;
      const env = { ...POOLED_ENV, DATABASE_DIRECT_URL: direct, ADMIN_USER_IDS: ADMIN_SUB, STARTER_CREDITS: '10', WEBHOOK_WORKER_INTERVAL_MS: '100' };
      // One asks for another statement_timeout than the database's: it starts, and says which one applies.
      a = await spawnApi({ databaseUrl: pooled, env: { ...env, DATABASE_STATEMENT_TIMEOUT_MS: '3000' } });
      b = await spawnApi({ databaseUrl: pooled, env });
    }, 120_000);
    afterAll(async () => {
      await live?.dispose();
      await b?.stop();
      await a?.stop();
    });

    it('migrated the empty database at start-up', async () => {
      const sql = sqlPool(directUrl);
      try {
        const { rows } = await sql.query<{ n: number }>('select count(*)::int as n from mikro_orm_migrations');
        expect(rows[0]!.n).toBe(migrationsList.length);
      } finally {
        await sql.end();
      }
    });

    it('warns at start-up when the database’s statement_timeout is not the configured one, and only then', () => {
      const warning = /statements run with statement_timeout 5000 ms, not DATABASE_STATEMENT_TIMEOUT_MS \(3000 ms\)/;
      expect(a.process.stdout()).toMatch(warning);
      expect(b.process.stdout()).not.toMatch(/statement_timeout/);
    });

    it('a client connected to instance A sees a consumption made through instance B', async () => {
      const sub = uniqueSub('live_pooled');
      await provision(b.url, sub);
      const connection = connectLive(a.url, bearer(sub));
      live = connection.client;
      const watching = watchBalance(connection.client);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const spent = await consumeOnce(b.url, sub, key('live'), 3);
      expect(spent.outcome).toMatchObject({ kind: 'success', balanceAfter: 7 });
      await waitUntil(async () => liveUpdates(watching.results).some((update) => update.eventType === 'credits.consumed'), {
        timeoutMs: 10_000,
        what: 'the live update on instance A',
      });
      expect(liveUpdates(watching.results).at(-1)).toMatchObject({ creditBalance: 7, eventType: 'credits.consumed', transaction: { amount: -3, balanceAfter: 7 } });
      watching.stop();
      // And a read through the other instance agrees.
      expect(await postGraphQL(a.url, sub, print(CreditBalanceDocument), {}, 10_000)).toMatchObject({ kind: 'success', balanceAfter: 7 });
    });

    it('says at start-up, loudly, that live updates cannot work when LISTEN goes through PgBouncer', async () => {
      const withoutDirect = await spawnApi({ databaseUrl: bouncer.urlFor(directUrl), env: { ...POOLED_ENV, ADMIN_USER_IDS: ADMIN_SUB } });
      try {
        expect(withoutDirect.process.stdout()).toMatch(/"level":50.*does not hear NOTIFY sent through the pool.*Set DATABASE_DIRECT_URL/);
      } finally {
        await withoutDirect.stop();
      }
      expect(a.process.stdout() + b.process.stdout()).not.toMatch(/does not hear NOTIFY/);
    });

    it('PgBouncer refused nothing: no unsupported start-up parameter, no prepared statement error', () => {
      expect(bouncer.log()).not.toMatch(/unsupported startup parameter|prepared statement .* does not exist|pooler error/);
    });
  });
});
