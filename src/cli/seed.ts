import 'reflect-metadata';
import { ConfigError, loadConfig } from '../config.js';
import { openDatabase } from '../database/database.js';
import { createLogger } from '../logger.js';
import { ormOptions } from '../orm.js';
import { rowCounts, runSeed } from '../seed.js';

/** npm run db:seed: applies migrations, then the idempotent development seed, and prints row counts. */
async function main() {
  const config = loadConfig();
  const log = createLogger(config.logLevel === 'silent' ? 'silent' : 'warn');
  const database = await openDatabase(config, log, (clientUrl, options) => ormOptions({ clientUrl, ...options }));
  try {
    const before = await rowCounts(database.orm);
    process.stderr.write('seeding');
    const timer = setInterval(() => process.stderr.write('.'), 250);
    try {
      await runSeed(database.orm, config);
    } finally {
      clearInterval(timer);
      process.stderr.write(' done\n');
    }
    const after = await rowCounts(database.orm);
    for (const table of Object.keys(after)) {
      const added = (after[table] ?? 0) - (before[table] ?? 0);
      console.log(`${table.padEnd(20)} ${String(after[table]).padStart(6)} rows (${added >= 0 ? '+' : ''}${added})`);
    }
  } finally {
    await database.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`db:seed failed: ${error instanceof ConfigError || error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
