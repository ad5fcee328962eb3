import path from 'node:path';
import type { Config } from '../config.js';
import { startEmbeddedPostgres, type EmbeddedCluster } from './embedded-postgres.js';

export interface DatabaseTarget {
  url: string;
  /** Present when the database is the embedded cluster in DATA_DIR. */
  embedded?: EmbeddedCluster;
}

/** DATABASE_URL when set; otherwise the embedded cluster in DATA_DIR, started (or attached to) on demand. */
export async function resolveDatabase(config: Config, log?: (message: string) => void): Promise<DatabaseTarget> {
  if (config.databaseUrl) return { url: config.databaseUrl };
  const embedded = await startEmbeddedPostgres({ dir: path.join(config.dataDir, 'postgres'), log });
  return { url: embedded.url, embedded };
}
