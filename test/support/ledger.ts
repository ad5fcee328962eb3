import { randomBytes } from 'node:crypto';
import { expect } from '@jest/globals';
import { MikroORM } from '@mikro-orm/postgresql';
import { auditLedger, type LedgerAudit } from '../../src/credits/audit.js';
import { ormOptions } from '../../src/orm.js';
import { GrantCreditsDocument } from '../generated/graphql.js';
import type { TestServer } from './server.js';
import { ADMIN_SUB } from './subjects.js';

/** The ledger as the tables hold it, read straight from them (not through Tally's code), and its checks. */

export async function grantAsAdmin(server: TestServer, userId: string, amount: number, idempotencyKey = `grant-${randomBytes(6).toString('hex')}`) {
  const res = await server.as(ADMIN_SUB).execute(GrantCreditsDocument, { input: { userId, amount, reason: 'test grant', idempotencyKey } });
  if (!res.data?.grantCredits) throw new Error(`grant failed: ${JSON.stringify(res.errors)}`);
  return res.data.grantCredits;
}

export interface Account {
  balance: number;
  held: number;
  expiring: number;
}

export async function accountOf(server: TestServer, userId: string): Promise<Account> {
  const { rows } = await server.sql.query<Account>(
    'select credit_balance as balance, held_credits as held, expiring_credits as expiring from accounts where id = $1',
    [userId],
  );
  if (!rows[0]) throw new Error(`no user ${userId}`);
  return rows[0];
}

export const balanceOf = async (server: TestServer, userId: string): Promise<number> => (await accountOf(server, userId)).balance;

export interface LedgerRow {
  id: string;
  type: string;
  status: string;
  amount: number;
  balance_after: number;
  feature: string | null;
  idempotency_key: string | null;
  workshop_id: string | null;
  stripe_session_id: string | null;
  stripe_payment_intent_id: string | null;
  refund_of_id: string | null;
  credits_reversed: number | null;
  metadata: Record<string, unknown> | null;
}

/** A user's rows in posting order, oldest first. */
export async function ledgerRows(server: TestServer, userId: string): Promise<LedgerRow[]> {
  const { rows } = await server.sql.query<LedgerRow>(
    `select id, type, status, amount, balance_after, feature, idempotency_key, workshop_id, stripe_session_id,
            stripe_payment_intent_id, refund_of_id, credits_reversed, metadata
     from credit_transactions where account_id = $1 order by posting_seq`,
    [userId],
  );
  return rows;
}

/** Counts of everything a request could write, to show that a refused one wrote none of it. */
export async function writeCounts(server: TestServer) {
  const { rows } = await server.sql.query<Record<string, number>>(
    `select (select count(*)::int from credit_transactions) as transactions,
            (select count(*)::int from credit_transactions where status = 'completed') as completed,
            (select coalesce(sum(credit_balance), 0)::int from accounts) as balances,
            (select coalesce(sum(held_credits), 0)::int from accounts) as held,
            (select count(*)::int from accounts) as users,
            (select count(*)::int from workshops) as workshops,
            (select count(*)::int from workshops where credit_consumed_at is not null) as charged,
            (select count(*)::int from reservations) as reservations,
            (select count(*)::int from credit_grants) as grants,
            (select count(*)::int from stripe_events) as events`,
  );
  return rows[0]!;
}

/**
 * What is wrong with a user's ledger, recomputed here from the raw rows: a negative balance, a balance that is not
 * the sum of its COMPLETED rows, a running balanceAfter out of step, held and expiring credits that disagree with
 * the reservations and grants, a grant whose remaining is not its amount minus its allocations, a reservation
 * charged more than once; plus the server's own auditLedger. An empty list means the ledger is sound.
 */
export async function creditProblems(server: TestServer, userId: string): Promise<string[]> {
  const problems: string[] = [];
  const account = await accountOf(server, userId);
  const rows = await ledgerRows(server, userId);
  if (account.balance < 0) problems.push(`balance ${account.balance} is negative`);
  let running = 0;
  for (const row of rows.filter((r) => r.status === 'completed')) {
    running += row.amount;
    if (row.balance_after !== running) problems.push(`row ${row.id} has balanceAfter ${row.balance_after}, running sum is ${running}`);
  }
  if (running !== account.balance) problems.push(`balance ${account.balance} but COMPLETED rows sum to ${running}`);
  if (account.held < 0 || account.held > account.balance) problems.push(`held ${account.held} outside 0..balance ${account.balance}`);
  if (account.expiring < 0 || account.expiring > account.balance) problems.push(`expiring ${account.expiring} outside 0..balance ${account.balance}`);
  const {
    rows: [sums],
  } = await server.sql.query<{ held: number; remaining: number }>(
    `select (select coalesce(sum(amount), 0)::int from reservations where account_id = $1 and status = 'held') as held,
            (select coalesce(sum(remaining), 0)::int from credit_grants where account_id = $1) as remaining`,
    [userId],
  );
  if (sums!.held !== account.held) problems.push(`held_credits ${account.held} but HELD reservations sum to ${sums!.held}`);
  if (sums!.remaining !== account.expiring) problems.push(`expiring_credits ${account.expiring} but grants have ${sums!.remaining} left`);
  const { rows: grants } = await server.sql.query<{ id: string; amount: number; remaining: number; taken: number; granted: number }>(
    `select g.transaction_id as id, g.amount, g.remaining, t.amount as granted,
            (select coalesce(sum(a.amount), 0)::int from credit_allocations a where a.grant_id = g.transaction_id) as taken
     from credit_grants g join credit_transactions t on t.id = g.transaction_id where g.account_id = $1`,
    [userId],
  );
  for (const g of grants) {
    if (g.remaining !== g.amount - g.taken) problems.push(`grant ${g.id}: remaining ${g.remaining}, amount ${g.amount} - allocated ${g.taken}`);
    if (g.granted !== g.amount) problems.push(`grant ${g.id}: lot of ${g.amount} for a GRANT row of ${g.granted}`);
  }
  const { rows: reservations } = await server.sql.query<{ id: string; status: string; captured_amount: number | null; charges: number; charged: number }>(
    `select r.id, r.status, r.captured_amount,
            (select count(*)::int from credit_transactions t where t.metadata->>'reservationId' = r.id) as charges,
            (select coalesce(-sum(t.amount), 0)::int from credit_transactions t where t.id = r.transaction_id) as charged
     from reservations r where r.account_id = $1`,
    [userId],
  );
  for (const r of reservations) {
    const expectedCharges = r.status === 'captured' ? 1 : 0;
    if (r.charges !== expectedCharges) problems.push(`reservation ${r.id} (${r.status}) has ${r.charges} CONSUMPTION rows`);
    if (r.status === 'captured' && r.charged !== r.captured_amount) problems.push(`reservation ${r.id} captured ${r.captured_amount} but charged ${r.charged}`);
  }
  const audit = await auditLedger(server.orm.em.fork(), userId);
  if (!audit.ok) problems.push(`auditLedger: ${JSON.stringify(audit)}`);
  return problems;
}

/** The ledger audit (every invariant, every user) run against a database directly, not through a server. */
export async function auditDatabase(databaseUrl: string): Promise<LedgerAudit> {
  const orm = await MikroORM.init(ormOptions({ clientUrl: databaseUrl, poolMax: 2 }));
  try {
    return await auditLedger(orm.em.fork());
  } finally {
    await orm.close();
  }
}

/** The whole ledger of a test server is clean (for an afterEach). */
export async function expectCleanLedger(server: TestServer) {
  const audit = await auditLedger(server.orm.em.fork());
  expect(audit.driftedUserIds).toEqual([]);
  expect(audit.ok).toBe(true);
}
