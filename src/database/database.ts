import { MikroORM, type Options } from '@mikro-orm/postgresql';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { resolveDatabase, type DatabaseTarget } from './database-url.js';

export interface Database {
  orm: MikroORM;
  target: DatabaseTarget;
  /**
   * Where to reach PostgreSQL itself, not through a pooler: DATABASE_DIRECT_URL when set, otherwise the serving URL.
   * Migrations ran over it; the LISTEN of live updates uses it.
   */
  directUrl: string;
  close(): Promise<void>;
}

/** Connects (starting the embedded cluster when DATABASE_URL is unset) and applies pending migrations. */
export async function openDatabase(
  config: Config,
  log: Logger,
  ormOptions: (clientUrl: string, options: { statementTimeoutMs: number; poolMax?: number }) => Options,
): Promise<Database> {
  const target = await resolveDatabase(config, (message) => log.info(message));
  const directUrl = config.database.directUrl ?? target.url;
  let orm: MikroORM | undefined;
  try {
    // Inside the try: init fails too (an entity metadata error, a refused connection), and the cluster must stop then.
    // Migrations run on a connection of their own, straight to PostgreSQL and without the serving pool's
    // statement_timeout (an index on a large table may take minutes).
    const migrating = await MikroORM.init(ormOptions(directUrl, { statementTimeoutMs: 0, poolMax: 1 }));
    try {
      const applied = await migrating.migrator.up();
      log.info({ applied: applied.map((m) => m.name) }, applied.length ? `applied ${applied.length} migration(s)` : 'schema is up to date');
    } finally {
      await migrating.close();
    }
    orm = await MikroORM.init(ormOptions(target.url, { statementTimeoutMs: config.database.statementTimeoutMs, poolMax: config.database.poolSize }));
    await checkSessionTimeouts(orm, config.database.statementTimeoutMs, log);
  } catch (error) {
    await orm?.close();
    await target.embedded?.stop();
    throw error;
  }
  const opened = orm;
  return {
    orm: opened,
    target,
    directUrl,
    async close() {
      await opened.close();
      await target.embedded?.stop();
    },
  };
}

export interface SessionTimeouts {
  statementTimeoutMs: number;
  idleInTransactionSessionTimeoutMs: number;
}

/** The timeouts a statement of `orm`'s pool really runs under, as the server reports them. */
export async function sessionTimeouts(orm: MikroORM): Promise<SessionTimeouts> {
  const rows = await orm.em.fork().execute<{ name: string; setting: string }[]>(
    `select name, setting from pg_settings where name in ('statement_timeout', 'idle_in_transaction_session_timeout')`,
  );
  const setting = (name: string) => Number(rows.find((row) => row.name === name)?.setting ?? 0);
  return { statementTimeoutMs: setting('statement_timeout'), idleInTransactionSessionTimeoutMs: setting('idle_in_transaction_session_timeout') };
}

/**
 * The serving pool asks for DATABASE_STATEMENT_TIMEOUT_MS in each connection's start-up packet. A transaction pooler
 * (PgBouncer) cannot pass start-up parameters on and is told to ignore them; its server connections then run under
 * the server's own settings (the role's or the database's). Start-up says so when they differ from the configured one.
 */
export async function checkSessionTimeouts(orm: MikroORM, statementTimeoutMs: number, log: Logger): Promise<SessionTimeouts> {
  const effective = await sessionTimeouts(orm);
  if (effective.statementTimeoutMs !== statementTimeoutMs) {
    log.warn(
      { configured: statementTimeoutMs, effective: effective.statementTimeoutMs },
      `statements run with statement_timeout ${effective.statementTimeoutMs} ms, not DATABASE_STATEMENT_TIMEOUT_MS (${statementTimeoutMs} ms): ` +
        'a pooler in front of PostgreSQL ignored the start-up parameter; set it on the role or database (ALTER ROLE ... SET statement_timeout)',
    );
  }
  return effective;
}
