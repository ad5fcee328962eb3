import type { EntityManager } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import { queryCancellably } from './client-gone.js';

type Row = Record<string, unknown>;

const pools = new WeakMap<object, Promise<Pool>>();

function poolOf(em: EntityManager): Promise<Pool> {
  const connection = em.getConnection();
  let pool = pools.get(connection);
  if (!pool) {
    pool = connection.getNativeClient() as Promise<Pool>;
    pools.set(connection, pool);
  }
  return pool;
}

/**
 * Runs one statement of the hot path (the viewer lookup, the ledger's single-statement posting) and returns its rows,
 * exactly as `em.execute` would: the same SQL text, formatted by the ORM's platform (values inlined and quoted, sent
 * as one simple-protocol message), on the ORM's own `pg` pool with its type parsers, reported to the ORM's logger.
 *
 * What it skips is the ORM's per-statement connection machinery (Kysely's executor, connection provider and result
 * transformation). Profiling put that at about a third of the client-side CPU of a statement, so on the path every
 * consumption takes it was a visible share of the request. Inside a transaction the statement must run on the
 * transaction's connection, so it goes through the EntityManager there.
 */
export async function queryRows<T extends Row = Row>(em: EntityManager, sql: string, params: readonly unknown[]): Promise<T[]> {
  if (em.isInTransaction()) return em.execute<T[]>(sql, params as unknown[]);
  const text = em.getPlatform().formatQuery(sql, params as unknown[]);
  const started = performance.now();
  const result = await queryCancellably<T>(await poolOf(em), text);
  em.config.getLogger().logQuery({ query: text, took: Math.round(performance.now() - started), results: result.rowCount ?? 0, level: 'info' });
  return result.rows;
}
