import { randomUUID } from 'node:crypto';
import { createHistogram } from 'node:perf_hooks';
import pg from 'pg';
import { CreditTransactionType } from '../src/credits/credit-transaction.enums.js';
import { POST_SQL } from '../src/credits/ledger-sql.js';
import { requestHash } from '../src/credits/request-hash.js';
import { prefixedId } from '../src/database/ids.js';
import { ormOptions } from '../src/database/orm-options.js';
import { VIEWER_SQL } from '../src/users/provisioning.js';
import { Outcomes, type Measurement } from './measurement.js';
import type { BenchUser } from './seed.js';

/**
 * The ceiling for consumeCredits: the database work of one request and nothing else. Per consumption that is the
 * viewer lookup provisioning does (its VIEWER_SQL) and the ledger's POST_SQL
 * with the parameters `Ledger.consume` passes, each through a plain `pg` pool of the API's size. No HTTP, GraphQL,
 * token check or ORM. The statements are imported, not copied, so the baseline moves when the request path does.
 */
export interface ConsumeStatements {
  viewerSql: string;
  viewerParams(clerkUserId: string): unknown[];
  consumeSql: string;
  consumeParams(userId: string, idempotencyKey: string, feature: string): unknown[];
}

/** MikroORM writes `?` placeholders; pg wants `$1..$n`. Quoted text is left alone (`?` can appear there). */
export function toPgPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\?/g, (match) => (match === '?' ? `$${++n}` : match));
}

export function consumeStatements(): ConsumeStatements {
  const amount = 1;
  return {
    viewerSql: toPgPlaceholders(VIEWER_SQL),
    viewerParams: (clerkUserId) => [clerkUserId],
    consumeSql: toPgPlaceholders(POST_SQL),
    // The order of Ledger.post's parameter list, for a consumption as Ledger.consume builds it.
    consumeParams: (userId, idempotencyKey, feature) => [
      -amount,
      userId,
      -amount,
      prefixedId('ctx'),
      userId,
      CreditTransactionType.CONSUMPTION,
      -amount,
      `Used ${amount} credit on ${feature}`,
      feature,
      idempotencyKey,
      requestHash('consume', { amount, feature }),
      null,
      null,
      null,
      null,
      null,
      JSON.stringify({ requestId: randomUUID() }),
    ],
  };
}

export interface SqlScenario {
  name: string;
  summary: string;
  nextUser(): BenchUser;
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
        const viewer = await pool.query<{ id: string }>(statements.viewerSql, statements.viewerParams(user.clerkUserId));
        const viewerId = viewer.rows[0]?.id;
        if (!viewerId) throw Object.assign(new Error('viewer not found'), { code: 'viewer not found' });
        const posted = await pool.query(statements.consumeSql, statements.consumeParams(viewerId, scenario.nextKey(), feature));
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
