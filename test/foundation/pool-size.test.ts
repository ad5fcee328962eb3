import { describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/database/database.js';
import { createLogger } from '../../src/logger.js';
import { ormOptions } from '../../src/orm.js';
import { createTestDatabase } from '../support/database.js';

/** DATABASE_POOL_SIZE reaches the serving pool that main.ts opens: requests beyond it wait for a connection. */
describe('DATABASE_POOL_SIZE', () => {
  it('caps the connections the serving pool opens', async () => {
    const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: await createTestDatabase(), DATABASE_POOL_SIZE: '2', LOG_LEVEL: 'silent' });
    const database = await openDatabase(config, createLogger('silent'), (clientUrl, options) => ormOptions({ clientUrl, ...options }));
    try {
      const em = database.orm.em;
      // Ten statements of 200 ms each at once: on two connections they take at least a second, and at most two
      // distinct server processes serve them.
      const started = Date.now();
      const pids = await Promise.all(
        Array.from({ length: 10 }, async () => (await em.fork().execute<{ pid: number }[]>('select pg_backend_pid() as pid, pg_sleep(0.2)'))[0]!.pid),
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(950);
      expect(new Set(pids).size).toBeLessThanOrEqual(2);
    } finally {
      await database.close();
    }
  });
});
