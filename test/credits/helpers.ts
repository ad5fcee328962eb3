import { randomBytes } from 'node:crypto';
import { sweepExpired } from '../../src/credits/expiry.js';
import { CaptureReservationDocument, GrantExpiringCreditsDocument, ReleaseReservationDocument, ReserveCreditsDocument } from '../generated/graphql.js';
import { ADMIN_SUB, ledgerProblems } from '../support/ledger-checks.js';
import type { TestServer } from '../support/server.js';

/** Helpers for test/credits: the credits of a user read straight from the tables, and their bookkeeping checked. */

export const key = (label: string) => `${label}-${randomBytes(5).toString('hex')}`;

export const inHours = (hours: number, from = new Date()) => new Date(from.getTime() + hours * 3_600_000);

export interface Account {
  balance: number;
  held: number;
  expiring: number;
}

export async function accountOf(server: TestServer, userId: string): Promise<Account> {
  const { rows } = await server.sql.query<{ balance: number; held: number; expiring: number }>(
    'select credit_balance as balance, held_credits as held, expiring_credits as expiring from users where id = $1',
    [userId],
  );
  if (!rows[0]) throw new Error(`no user ${userId}`);
  return rows[0];
}

export const grantExpiring = (server: TestServer, userId: string, amount: number, expiresAt: Date | null, idempotencyKey = key('grant')) =>
  server.as(ADMIN_SUB).execute(GrantExpiringCreditsDocument, {
    input: { userId, amount, reason: 'test grant', idempotencyKey, expiresAt: expiresAt?.toISOString() ?? null },
  });

export const reserve = (server: TestServer, sub: string, amount: number, options: { key?: string; ttlSeconds?: number; feature?: string } = {}) =>
  server.as(sub).execute(ReserveCreditsDocument, {
    input: { amount, feature: options.feature ?? 'llm.run', idempotencyKey: options.key ?? key('hold'), ttlSeconds: options.ttlSeconds ?? 3600 },
  });

export const capture = (server: TestServer, sub: string, id: string, amount: number) =>
  server.as(sub).execute(CaptureReservationDocument, { id, amount });

export const release = (server: TestServer, sub: string, id: string) => server.as(sub).execute(ReleaseReservationDocument, { id });

/** The expiry sweep against the server's database, as of `now`. */
export const sweep = (server: TestServer, now: Date) => sweepExpired(server.orm.em.fork(), now);

/**
 * Everything test/api's ledgerProblems checks (balance = sum of rows, running balanceAfter, auditLedger), plus the
 * bookkeeping of holds and expiring grants, recomputed here from the raw tables rather than trusted from the audit.
 */
export async function creditProblems(server: TestServer, userId: string): Promise<string[]> {
  const problems = await ledgerProblems(server, userId);
  const account = await accountOf(server, userId);
  if (account.held < 0 || account.held > account.balance) problems.push(`held ${account.held} outside 0..balance ${account.balance}`);
  if (account.expiring < 0 || account.expiring > account.balance) problems.push(`expiring ${account.expiring} outside 0..balance ${account.balance}`);
  const { rows: [sums] } = await server.sql.query<{ held: number; remaining: number }>(
    `select (select coalesce(sum(amount), 0)::int from reservations where user_id = $1 and status = 'held') as held,
            (select coalesce(sum(remaining), 0)::int from credit_grants where user_id = $1) as remaining`,
    [userId],
  );
  if (sums!.held !== account.held) problems.push(`held_credits ${account.held} but HELD reservations sum to ${sums!.held}`);
  if (sums!.remaining !== account.expiring) problems.push(`expiring_credits ${account.expiring} but grants have ${sums!.remaining} left`);
  const { rows: grants } = await server.sql.query<{ id: string; amount: number; remaining: number; taken: number; granted: number }>(
    `select g.transaction_id as id, g.amount, g.remaining, t.amount as granted,
            (select coalesce(sum(a.amount), 0)::int from credit_allocations a where a.grant_id = g.transaction_id) as taken
     from credit_grants g join credit_transactions t on t.id = g.transaction_id where g.user_id = $1`,
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
     from reservations r where r.user_id = $1`,
    [userId],
  );
  for (const r of reservations) {
    const expectedCharges = r.status === 'captured' ? 1 : 0;
    if (r.charges !== expectedCharges) problems.push(`reservation ${r.id} (${r.status}) has ${r.charges} CONSUMPTION rows`);
    if (r.status === 'captured' && r.charged !== r.captured_amount) problems.push(`reservation ${r.id} captured ${r.captured_amount} but charged ${r.charged}`);
  }
  return problems;
}
