import 'reflect-metadata';
import { loadConfig } from './src/config.js';
import { resolveDatabase } from './src/database/database-url.js';
import { ormOptions } from './src/orm.js';

/**
 * Configuration for the MikroORM CLI (`npx mikro-orm migration:up`, `migration:create`, `migration:check`...).
 * Without DATABASE_URL it uses the embedded cluster in DATA_DIR: attaching to a running `npm start`, or starting the
 * cluster for the command and stopping it again when the command exits.
 */
export default async () => {
  const target = await resolveDatabase(loadConfig(), (message) => console.error(message));
  if (target.embedded?.startedHere) process.once('exit', () => target.embedded?.stopSync());
  return ormOptions({ clientUrl: target.url, poolMax: 4 });
};
