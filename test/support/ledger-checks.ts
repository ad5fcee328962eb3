import { randomBytes } from 'node:crypto';
import { AuditLedgerDocument, GrantCreditsDocument, MeDocument } from '../generated/graphql.js';
import type { GraphQLResponse, TestServer } from './server.js';

/** Helpers for test/api: who is who, and the ledger read straight from the tables (not through our code). */

export const ADMIN_SUB = 'user_api_admin';

/** A `sub` no other test uses, so one server can serve many independent scenarios. */
export const uniqueSub = (label: string) => `user_${label}_${randomBytes(5).toString('hex')}`;

export const errorCode = (res: GraphQLResponse<unknown>) => res.errors?.[0]?.extensions?.code;

/** Provisions (or finds) the user behind `subject` and returns their usr_ id. */
export async function userIdOf(server: TestServer, subject: string): Promise<string> {
  const res = await server.as(subject).execute(MeDocument);
  if (!res.data?.me) throw new Error(`me failed for ${subject}: ${JSON.stringify(res.errors)}`);
  return res.data.me.id;
}

export async function grantAsAdmin(server: TestServer, userId: string, amount: number, idempotencyKey = `grant-${randomBytes(6).toString('hex')}`) {
  const res = await server.as(ADMIN_SUB).execute(GrantCreditsDocument, { input: { userId, amount, reason: 'test grant', idempotencyKey } });
  if (!res.data?.grantCredits) throw new Error(`grant failed: ${JSON.stringify(res.errors)}`);
  return res.data.grantCredits;
}

export interface LedgerRow {
  id: string;
  type: string;
  status: string;
  amount: number;
  balance_after: number;
  feature: string | null;
  idempotency_key: string | null;
  workshop_id: string | null;
}

/** A user's rows in posting order, oldest first. */
export async function ledgerRows(server: TestServer, userId: string): Promise<LedgerRow[]> {
  const { rows } = await server.sql.query<LedgerRow>(
    `select id, type, status, amount, balance_after, feature, idempotency_key, workshop_id
     from credit_transactions where user_id = $1 order by posting_seq`,
    [userId],
  );
  return rows;
}

export async function storedBalance(server: TestServer, userId: string): Promise<number> {
  const { rows } = await server.sql.query<{ credit_balance: number }>('select credit_balance from users where id = $1', [userId]);
  if (!rows[0]) throw new Error(`no user ${userId}`);
  return rows[0].credit_balance;
}

/**
 * Invariants 1-3 recomputed here from the raw rows, plus the server's own auditLedger. Returns what is wrong (an
 * empty list when the ledger is sound) so callers can show every problem at once.
 */
export async function ledgerProblems(server: TestServer, userId: string): Promise<string[]> {
  const problems: string[] = [];
  const balance = await storedBalance(server, userId);
  const rows = await ledgerRows(server, userId);
  if (balance < 0) problems.push(`balance ${balance} is negative`);
  let running = 0;
  for (const row of rows.filter((r) => r.status === 'completed')) {
    running += row.amount;
    if (row.balance_after !== running) problems.push(`row ${row.id} has balanceAfter ${row.balance_after}, running sum is ${running}`);
  }
  if (running !== balance) problems.push(`balance ${balance} but COMPLETED rows sum to ${running}`);
  const audit = await server.as(ADMIN_SUB).execute(AuditLedgerDocument, { userId });
  if (!audit.data?.auditLedger.ok) problems.push(`auditLedger: ${JSON.stringify(audit.data?.auditLedger ?? audit.errors)}`);
  return problems;
}

/** Everything a rejected request must leave untouched. */
export async function writeCounts(server: TestServer) {
  const { rows } = await server.sql.query<{ transactions: number; workshops: number; users: number; balances: number; charged: number }>(
    `select (select count(*)::int from credit_transactions) as transactions,
            (select count(*)::int from workshops) as workshops,
            (select count(*)::int from users) as users,
            (select coalesce(sum(credit_balance), 0)::int from users) as balances,
            (select count(*)::int from workshops where credit_consumed_at is not null) as charged`,
  );
  return rows[0]!;
}
