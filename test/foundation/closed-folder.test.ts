import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/database/embedded-postgres.js';

const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * As root, PostgreSQL runs as the `postgres` system user, which cannot enter a folder closed to other users (a clone
 * in a `mktemp -d` folder is mode 700). The embedded cluster still starts there: its data moves to a folder of its own
 * under the temp folder, the same one for the same DATA_DIR every time. (The binaries are handled the same way; the
 * whole suite runs them from wherever the checkout is.)
 */
(asRoot ? describe : describe.skip)('embedded PostgreSQL under a folder closed to other users', () => {
  it('starts, keeps its data where the postgres user can reach it, and finds it again at the next start', async () => {
    const closed = mkdtempSync(path.join(os.tmpdir(), 'tally-closed-'));
    const dir = path.join(closed, '.data', 'postgres');
    const messages: string[] = [];
    let dataDir: string | undefined;
    try {
      for (const round of [1, 2]) {
        const cluster = await startEmbeddedPostgres({ dir, settings: { fsync: 'off' }, log: (message) => messages.push(message) });
        try {
          expect(cluster.dataDir.startsWith(closed)).toBe(false);
          if (round === 2) expect(cluster.dataDir).toBe(dataDir);
          dataDir = cluster.dataDir;
          const client = new pg.Client({ connectionString: cluster.url });
          await client.connect();
          if (round === 1) await client.query('create table kept (n int); insert into kept values (42)');
          expect((await client.query('select n from kept')).rows).toEqual([{ n: 42 }]);
          await client.end();
        } finally {
          await cluster.stop();
        }
      }
      expect(messages.join('\n')).toContain('cannot reach');
    } finally {
      rmSync(closed, { recursive: true, force: true });
      if (dataDir) rmSync(path.dirname(dataDir), { recursive: true, force: true });
    }
  });
});
