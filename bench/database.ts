import type pg from 'pg';
import { MikroORM } from '@mikro-orm/postgresql';
import { startEmbeddedPostgres } from '../src/database/embedded-postgres.js';
import { ormOptions } from '../src/orm.js';
import { onCleanup } from './cleanup.js';
import type { BenchSettings } from './settings.js';

export interface BenchDatabase {
  url: string;
  /** Where the database came from, for the report. */
  description: string;
  orm: MikroORM;
  /** The embedded cluster's data directory (for CPU accounting); unknown behind DATABASE_URL. */
  dataDir?: string;
}

/**
 * DATABASE_URL when set; otherwise a brand-new embedded cluster in `dir`. Durable by default (fsync on), because a
 * benchmark of a ledger that skips the disk flush measures something production never does; BENCH_FAST=1 skips it.
 */
export async function openBenchDatabase(settings: BenchSettings, dir: string): Promise<BenchDatabase> {
  let url = settings.databaseUrl;
  let description = 'DATABASE_URL';
  let dataDir: string | undefined;
  if (!url) {
    const durability: Record<string, string> = settings.fast ? { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } : {};
    // Planning counted too: a prepared statement planned on every call (custom plans) shows it in its plans column.
    const statements: Record<string, string> = settings.statements ? { shared_preload_libraries: 'pg_stat_statements', 'pg_stat_statements.track_planning': 'on' } : {};
    const cluster = await startEmbeddedPostgres({ dir, settings: { max_connections: '200', ...durability, ...statements } });
    onCleanup('embedded PostgreSQL', () => cluster.stop(), () => cluster.stopSync());
    url = cluster.url;
    dataDir = cluster.dataDir;
    description = `embedded PostgreSQL in a temp dir, fsync ${settings.fast ? 'off (BENCH_FAST=1)' : 'on'}`;
  }
  const orm = await MikroORM.init(ormOptions({ clientUrl: url, poolMax: 4 }));
  onCleanup('benchmark ORM', () => orm.close());
  await orm.migrator.up();
  if (settings.statements) await orm.em.getConnection().execute('create extension if not exists pg_stat_statements');
  return { url, description, orm, dataDir };
}

/**
 * The statements PostgreSQL ran most often since the last reset (BENCH_STATEMENTS=1), with their calls and mean time:
 * what a scenario really sends, counted by the server.
 */
export async function topStatements(pool: pg.Pool, limit = 12): Promise<string[]> {
  const { rows } = await pool.query<{ calls: string; plans: string; mean_ms: number; mean_plan_ms: number; query: string }>(
    `select calls, plans, mean_exec_time as mean_ms, mean_plan_time as mean_plan_ms, regexp_replace(query, '\\s+', ' ', 'g') as query
     from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())
     order by calls desc limit $1`,
    [limit],
  );
  return rows.map(
    (row) =>
      `${String(row.calls).padStart(8)} calls ${row.mean_ms.toFixed(3).padStart(8)} ms ${String(row.plans).padStart(8)} plans ${row.mean_plan_ms.toFixed(3).padStart(7)} ms  ${row.query.slice(0, 120)}`,
  );
}

export async function resetStatements(pool: pg.Pool): Promise<void> {
  await pool.query('select pg_stat_statements_reset()');
}

/** Waits (up to two minutes) until the API's dispatcher has fanned out every event written so far. */
export async function drainOutbox(pool: pg.Pool, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await pool.query<{ waiting: boolean }>('select exists (select 1 from events where dispatched_at is null) as waiting');
    if (!rows[0]?.waiting) return;
    if (Date.now() > deadline) throw new Error(`the API's dispatcher left events undispatched for ${timeoutMs / 1000}s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Runs `work` in one transaction on one pooled connection: the seeding of a user commits whole or not at all. */
export async function inTransaction(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('begin');
    await work(client);
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * After seeding, before measuring: VACUUM ANALYZE and a CHECKPOINT (as pgbench vacuums before its runs), so that the
 * autovacuum and checkpoint work the seed left behind do not land in whichever run happens to come first. What the
 * runs' own writes cause later is part of what they measure. Without the rights to CHECKPOINT (a managed
 * DATABASE_URL), that step is skipped.
 */
export async function settle(pool: pg.Pool): Promise<void> {
  await pool.query('vacuum analyze');
  await pool.query('checkpoint').catch(() => undefined);
}
