import { MikroORM, type Options } from '@mikro-orm/postgresql';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { resolveDatabase, type DatabaseTarget } from './database-url.js';

export interface Database {
  orm: MikroORM;
  target: DatabaseTarget;
  close(): Promise<void>;
}

/** Connects (starting the embedded cluster when DATABASE_URL is unset) and applies pending migrations. */
export async function openDatabase(
  config: Config,
  log: Logger,
  ormOptions: (clientUrl: string, options: { statementTimeoutMs: number; poolMax?: number }) => Options,
): Promise<Database> {
  const target = await resolveDatabase(config, (message) => log.info(message));
  let orm: MikroORM | undefined;
  try {
    // Inside the try: init fails too (an entity metadata error, a refused connection), and the cluster must stop then.
    // Migrations run on a connection of their own, without the serving pool's statement_timeout.
    const migrating = await MikroORM.init(ormOptions(target.url, { statementTimeoutMs: 0, poolMax: 1 }));
    try {
      const applied = await migrating.migrator.up();
      log.info({ applied: applied.map((m) => m.name) }, applied.length ? `applied ${applied.length} migration(s)` : 'schema is up to date');
    } finally {
      await migrating.close();
    }
    orm = await MikroORM.init(ormOptions(target.url, { statementTimeoutMs: config.database.statementTimeoutMs }));
  } catch (error) {
    await orm?.close();
    await target.embedded?.stop();
    throw error;
  }
  const opened = orm;
  return {
    orm: opened,
    target,
    async close() {
      await opened.close();
      await target.embedded?.stop();
    },
  };
}
