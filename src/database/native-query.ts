import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import { queryCancellably } from './client-gone.js';

type Row = Record<string, unknown>;

const pools = new WeakMap<object, Promise<Pool>>();
/** Connections (one per ORM) whose hot statements are sent unprepared: behind a transaction pooler. */
const unprepared = new WeakSet<object>();

/**
 * Whether the hot statements of `orm` are named, server-side prepared statements (DATABASE_PREPARED_STATEMENTS, on by
 * default): each connection parses and plans them once, then only binds and executes. A transaction pooler that
 * hands each transaction another server connection (PgBouncer before 1.21 in transaction mode) cannot keep them, so
 * it needs them off: the statements then go as text with the values inlined, one simple-protocol message each.
 */
export function usePreparedStatements(orm: MikroORM, prepared: boolean): void {
  const connection = orm.em.getConnection();
  if (prepared) unprepared.delete(connection);
  else unprepared.add(connection);
}

/** `?` placeholders (the ORM's form) as PostgreSQL's `$1, $2...`, computed once per statement. */
const numbered = new Map<string, string>();
function numberedText(sql: string): string {
  let text = numbered.get(sql);
  if (text === undefined) {
    let n = 0;
    text = sql.replace(/\?/g, () => `$${++n}`);
    numbered.set(sql, text);
  }
  return text;
}

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
 * Runs one statement of the hot path (the viewer lookup, the ledger's single-statement posting, a hold) and returns
 * its rows, as `em.execute` would, on the ORM's own `pg` pool with its type parsers, reported to the ORM's logger.
 * With a `name`, it is a prepared statement of that name on each connection (parsed and planned once, then bound);
 * without one, or with prepared statements off (usePreparedStatements), the SQL text formatted by the ORM's platform
 * (values inlined and quoted, one simple-protocol message).
 *
 * What it skips is the ORM's per-statement connection machinery (Kysely's executor, connection provider and result
 * transformation). Profiling put that at about a third of the client-side CPU of a statement, so on the path every
 * consumption takes it was a visible share of the request. Inside a transaction the statement must run on the
 * transaction's connection, so it goes through the EntityManager there.
 */
export async function queryRows<T extends Row = Row>(em: EntityManager, sql: string, params: readonly unknown[], name?: string): Promise<T[]> {
  if (em.isInTransaction()) return em.execute<T[]>(sql, params as unknown[]);
  const pool = await poolOf(em);
  const started = performance.now();
  if (name && !unprepared.has(em.getConnection())) {
    const text = numberedText(sql);
    const result = await queryCancellably<T>(pool, { name, text, values: params as unknown[] });
    em.config.getLogger().logQuery({ query: text, params: params as unknown[], took: Math.round(performance.now() - started), results: result.rowCount ?? 0, level: 'info' });
    return result.rows;
  }
  const text = em.getPlatform().formatQuery(sql, params as unknown[]);
  const result = await queryCancellably<T>(pool, text);
  em.config.getLogger().logQuery({ query: text, took: Math.round(performance.now() - started), results: result.rowCount ?? 0, level: 'info' });
  return result.rows;
}
