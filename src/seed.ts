import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from './config.js';
import type { Logger } from './logger.js';
import { DatabaseSeeder } from '../seeders/DatabaseSeeder.js';

export const SEEDED_TABLES = ['users', 'workshops', 'credit_transactions', 'credit_packs'] as const;

export async function rowCounts(orm: MikroORM): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of SEEDED_TABLES) {
    const [row] = await orm.em.getConnection().execute<{ n: number }[]>(`select count(*)::int as n from ${table}`);
    counts[table] = row?.n ?? 0;
  }
  return counts;
}

/** Runs the idempotent development seed. */
export async function runSeed(orm: MikroORM, config: Config): Promise<void> {
  DatabaseSeeder.workshopCreditCost = config.workshopCreditCost;
  await orm.seeder.seed(DatabaseSeeder);
}

/** First boot of a development database: seed it once, so there is someone to log in as. */
export async function seedIfEmpty(orm: MikroORM, config: Config, log: Logger): Promise<void> {
  const [row] = await orm.em.getConnection().execute<{ n: number }[]>('select count(*)::int as n from users');
  if ((row?.n ?? 0) > 0) return;
  log.info('empty database: seeding demo data');
  await runSeed(orm, config);
  log.info(await rowCounts(orm), 'seeded demo data');
}
