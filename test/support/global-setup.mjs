// Runs in Jest's own process before any test file, outside the test transform, so it uses the compiled build
// (`npm test` builds first).
import 'reflect-metadata';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import { startEmbeddedPostgres } from '../../dist/src/database/embedded-postgres.js';
import { ormOptions } from '../../dist/src/orm.js';

const TEMPLATE_DATABASE = 'tally_template';

const withDatabase = (url, database) => {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
};

/**
 * One throwaway PostgreSQL for the whole run, with a template database that has every migration applied. Each
 * test file clones the template (CREATE DATABASE ... TEMPLATE), which takes milliseconds.
 */
export default async function globalSetup() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tally-test-'));
  const cluster = await startEmbeddedPostgres({
    dir,
    // Durability buys nothing for a database that is deleted after the run.
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '400' },
  });
  globalThis.tallyTestCluster = cluster;
  process.env.TALLY_TEST_CLUSTER_URL = cluster.url;
  process.env.TALLY_TEST_CLUSTER_DIR = dir;
  const admin = await MikroORM.init(ormOptions({ clientUrl: withDatabase(cluster.url, 'postgres'), poolMax: 1 }));
  await admin.em.getConnection().execute(`create database ${TEMPLATE_DATABASE}`);
  await admin.close();
  const template = await MikroORM.init(ormOptions({ clientUrl: withDatabase(cluster.url, TEMPLATE_DATABASE), poolMax: 1 }));
  await template.migrator.up();
  await template.close();
}
