import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { migrationsList } from '../../migrations/index.js';
import { startEmbeddedPostgres } from '../../src/database/embedded-postgres.js';
import { createTestDatabase, sqlPool } from '../support/database.js';
import { cleanEnv, plain, postgresLeftAfter, removeDirs, runNode, stopAllProcesses, tempDir } from '../support/processes.js';
import { appliedMigrations } from '../support/schema.js';

const CLI = 'node_modules/@mikro-orm/cli/cli.js';
const APP = 'Migration20261101000000_app';
const BILLING = 'Migration20261115000000_billing';
const ALL = migrationsList.map((migration) => migration.name);

/** `npx mikro-orm <args>`, minus npm's own start-up. */
const mikroOrm = (args: string[], env: Record<string, string>) => runNode([CLI, ...args], cleanEnv(env), 180_000);

describe('the MikroORM CLI', () => {
  const pools: pg.Pool[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    await stopAllProcesses(dirs);
    await Promise.all(pools.map((pool) => pool.end()));
    await removeDirs(dirs);
  });

  const emptyDatabase = async () => {
    const url = await createTestDatabase({ empty: true });
    const sql = sqlPool(url);
    pools.push(sql);
    return { url, sql };
  };

  it('loads mikro-orm.config.ts itself, through oxc', async () => {
    const { url } = await emptyDatabase();
    const debug = await mikroOrm(['debug'], { DATABASE_URL: url });
    const out = plain(debug.stdout);
    expect(out).toMatch(/TypeScript support enabled \(oxc\)/);
    expect(out).toContain(`${path.sep}mikro-orm.config.ts (found)`);
    expect(out).toMatch(/configuration found/);
    expect(out).toMatch(/database connection successful/);
  }, 240_000);

  it('migration:up applies every migration to DATABASE_URL, and migration:check then finds nothing to do', async () => {
    const { url, sql } = await emptyDatabase();
    const up = await mikroOrm(['migration:up'], { DATABASE_URL: url });
    expect({ code: up.code, stderr: up.stderr }).toEqual({ code: 0, stderr: '' });
    expect(plain(up.stdout)).toMatch(/Successfully migrated up to the latest version/);
    expect(await appliedMigrations(sql)).toEqual(ALL);

    const check = await mikroOrm(['migration:check'], { DATABASE_URL: url });
    expect(check.code).toBe(0);
    expect(plain(check.stdout)).toMatch(/No changes required, schema is up-to-date/);

    const pending = await mikroOrm(['migration:pending'], { DATABASE_URL: url });
    expect(pending.code).toBe(0);
    expect(plain(pending.stdout)).toMatch(/No pending migrations/);
  }, 240_000);

  it('migration:check fails (exit 1) while the database lags behind the entities', async () => {
    const { url, sql } = await emptyDatabase();
    const up = await mikroOrm(['migration:up', '--to', APP], { DATABASE_URL: url });
    expect(up.code).toBe(0);
    expect(await appliedMigrations(sql)).toEqual([APP]);

    const pending = await mikroOrm(['migration:pending'], { DATABASE_URL: url });
    expect(plain(pending.stdout)).toContain(BILLING);

    const check = await mikroOrm(['migration:check'], { DATABASE_URL: url });
    expect(check.code).toBe(1);
    expect(plain(check.stdout)).toMatch(/Changes detected/);
  }, 240_000);

  it('without DATABASE_URL migrates the embedded cluster in DATA_DIR and stops it on exit', async () => {
    const dataDir = await tempDir('tally-cli');
    dirs.push(dataDir);
    const clusterDir = path.join(dataDir, 'postgres');

    const up = await mikroOrm(['migration:up'], { DATA_DIR: dataDir });
    expect(up.code).toBe(0);
    expect(plain(up.stdout)).toMatch(/Successfully migrated up to the latest version/);
    expect(existsSync(path.join(clusterDir, 'pg', 'PG_VERSION'))).toBe(true);
    // Stopped before the command exited (not merely signalled), so a command run next cannot find it shutting down.
    expect(existsSync(path.join(clusterDir, 'pg', 'postmaster.pid'))).toBe(false);
    expect(await postgresLeftAfter(dataDir)).toEqual([]);
    expect(existsSync(path.join(clusterDir, 'owner.pid'))).toBe(false);

    // The same cluster, started again: both migrations are recorded in it.
    const cluster = await startEmbeddedPostgres({ dir: clusterDir });
    try {
      expect(cluster.created).toBe(false);
      const sql = sqlPool(cluster.url);
      try {
        expect(await appliedMigrations(sql)).toEqual(ALL);
      } finally {
        await sql.end();
      }
    } finally {
      await cluster.stop();
    }
    expect(await postgresLeftAfter(dataDir)).toEqual([]);

    const pending = await mikroOrm(['migration:pending'], { DATA_DIR: dataDir });
    expect(pending.code).toBe(0);
    expect(plain(pending.stdout)).toMatch(/No pending migrations/);
    expect(await postgresLeftAfter(dataDir)).toEqual([]);
  }, 240_000);
});
