import { randomUUID } from 'node:crypto';
import { createHistogram } from 'node:perf_hooks';
import pg from 'pg';
import { CreditTransactionType } from '../src/credits/credit-transaction.enums.js';
import { monthOf } from '../src/credits/posting/postings.js';
import { POST, POST_MEMBER, type PostedRowParams } from '../src/credits/posting/statements.js';
import { requestHash } from '../src/core/request-hash.js';
import { prefixedId } from '../src/core/ids.js';
import { ormOptions } from '../src/orm.js';
import { VIEWER_SQL } from '../src/identity/provisioning.js';
import { Outcomes, type Measurement } from './measurement.js';
import type { BenchMember, BenchUser } from './seed.js';

/**
 * The ceiling for consumeCredits: the database work of one request and nothing else. Per consumption that is the
 * viewer lookup provisioning does (its VIEWER_SQL) and the ledger's POST with the parameters `Ledger.consume`
 * passes, each sent as the API sends it: the SQL text formatted by the ORM's platform (values inlined, one
 * simple-protocol message, see database/native-query.ts), through a plain `pg` pool of the API's size. No HTTP,
 * GraphQL, token check or ORM. The statements are imported, not copied, so the baseline moves when the request path
 * does.
 */
export interface ConsumeStatements {
  /** The statement templates, for the report. */
  viewerSql: string;
  consumeSql: string;
  memberConsumeSql: string;
  viewer(clerkUserId: string): string;
  consume(userId: string, idempotencyKey: string, feature: string): string;
  /** A member's spend from an organization's wallet, under their monthly limit (POST_MEMBER). */
  consumeAsMember(userId: string, organizationId: string, idempotencyKey: string, feature: string): string;
}

/** Formats a statement and its parameters into the text sent, as the ORM's platform does. */
export type FormatQuery = (sql: string, params: unknown[]) => string;

export function consumeStatements(format: FormatQuery): ConsumeStatements {
  const amount = 1;
  const row = (accountId: string, actorId: string, idempotencyKey: string, feature: string): PostedRowParams => ({
    id: prefixedId('ctx'),
    accountId,
    actorId,
    type: CreditTransactionType.CONSUMPTION,
    amount: -amount,
    description: `Used ${amount} credit on ${feature}`,
    feature,
    idempotencyKey,
    requestHash: requestHash('consume', { amount, feature }),
    workshopId: null,
    stripeSessionId: null,
    stripePaymentIntentId: null,
    refundOfId: null,
    creditsReversed: null,
    metadata: JSON.stringify({ requestId: randomUUID() }),
  });
  return {
    viewerSql: VIEWER_SQL,
    consumeSql: POST.text,
    memberConsumeSql: POST_MEMBER.text,
    viewer: (clerkUserId) => format(VIEWER_SQL, [clerkUserId]),
    consume: (userId, idempotencyKey, feature) => format(POST.text, POST.bind(row(userId, userId, idempotencyKey, feature))),
    consumeAsMember: (userId, organizationId, idempotencyKey, feature) =>
      format(POST_MEMBER.text, POST_MEMBER.bind({ ...row(organizationId, userId, idempotencyKey, feature), month: monthOf(new Date()), debit: amount })),
  };
}

export interface SqlScenario {
  name: string;
  summary: string;
  /** A user, or a member spending from their organization's wallet. */
  nextUser(): BenchUser | BenchMember;
  nextKey(): string;
}

/** The API's own pool size, so the ceiling has the same number of connections to work with. */
export const apiPoolSize = (url: string) => ormOptions({ clientUrl: url }).pool?.max ?? 20;

export async function runSqlCeiling(
  url: string,
  statements: ConsumeStatements,
  scenario: SqlScenario,
  feature: string,
  concurrency: number,
  seconds: number,
  shouldStop: () => boolean,
): Promise<Measurement> {
  const pool = new pg.Pool({ connectionString: url, max: apiPoolSize(url) });
  pool.on('error', () => undefined);
  const outcomes = new Outcomes();
  const latency = createHistogram();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async () => {
    while (performance.now() < deadline && !shouldStop()) {
      const user = scenario.nextUser();
      const t0 = performance.now();
      try {
        const viewer = await pool.query<{ id: string }>(statements.viewer(user.clerkUserId));
        const viewerId = viewer.rows[0]?.id;
        if (!viewerId) throw Object.assign(new Error('viewer not found'), { code: 'viewer not found' });
        const posted = await pool.query(
          'organizationId' in user
            ? statements.consumeAsMember(viewerId, user.organizationId, scenario.nextKey(), feature)
            : statements.consume(viewerId, scenario.nextKey(), feature),
        );
        if (posted.rowCount === 1) outcomes.ok++;
        else outcomes.insufficientCredits++;
      } catch (error) {
        outcomes.error(String((error as { code?: string }).code ?? (error as Error).message));
      }
      latency.record(Math.max(1, Math.round((performance.now() - t0) * 1000)));
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await pool.end();
  }
  return outcomes.measurement(scenario.name, concurrency, (performance.now() - started) / 1000, latency);
}
