import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TEMPLATE_DATABASE, withDatabase } from './database-url.js';

export function clusterUrl(): string {
  const url = process.env.TALLY_TEST_CLUSTER_URL;
  if (!url) throw new Error('TALLY_TEST_CLUSTER_URL is not set: run tests through `npm test`');
  return url;
}

export async function adminQuery<T extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []) {
  const client = new pg.Client({ connectionString: withDatabase(clusterUrl(), 'postgres') });
  await client.connect();
  try {
    return await client.query<T>(sql, params);
  } finally {
    await client.end();
  }
}

/** A fresh database for one test file: a clone of the migrated template, or empty with `{ empty: true }`. */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<string> {
  const name = `test_${randomBytes(6).toString('hex')}`;
  for (let attempt = 0; ; attempt++) {
    try {
      await adminQuery(options.empty ? `create database ${name}` : `create database ${name} template ${TEMPLATE_DATABASE}`);
      break;
    } catch (error) {
      // Two clones of the template at the same instant can collide; a moment later they do not.
      if (attempt >= 5 || !String(error).includes('being accessed')) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)));
    }
  }
  return withDatabase(clusterUrl(), name);
}

/** A plain pg pool on a test database, for assertions that read the tables directly. */
export function sqlPool(url: string): pg.Pool {
  return new pg.Pool({ connectionString: url, max: 4 });
}
