import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { freePort, startEmbeddedPostgres, type EmbeddedCluster } from '../../src/database/embedded-postgres.js';
import { SEED_USERS } from '../../seeders/demo-data.js';
import { withDatabase } from '../support/database-url.js';
import { graphql, healthStatus } from '../support/http.js';
import {
  cleanEnv,
  postgresLeftAfter,
  postgresProcessesFor,
  removeDirs,
  runNode,
  spawnNode,
  stopAllProcesses,
  tempDir,
  waitUntil,
  type RunningProcess,
} from '../support/processes.js';
import { tokenFor } from '../support/tokens.js';

const MAIN = 'dist/src/main.js';
/** Start-up includes initdb on a fresh DATA_DIR; a loaded machine can take a while. */
const BOOT_MS = 180_000;

interface Started {
  server: RunningProcess;
  url: string;
  token: string;
}

async function startServer(env: Record<string, string>): Promise<Started> {
  const server = spawnNode([MAIN], cleanEnv({ NODE_ENV: 'development', LOG_LEVEL: 'warn', ...env }));
  const [, url] = await server.waitForOutput(/Tally is ready: (http:\/\/\S+)\/graphql/, { timeoutMs: BOOT_MS });
  const [, token] = await server.waitForOutput(/^ {2}Authorization: Bearer (\S+)\n/m, { timeoutMs: 10_000 });
  return { server, url: url!, token: token! };
}

type Me = { me: { clerkUserId: string; creditBalance: number } };
type History = { creditHistory: { edges: { node: { id: string; amount: number; feature: string | null } }[] } };

const ME = '{ me { clerkUserId creditBalance } }';
const HISTORY = '{ creditHistory(first: 100) { edges { node { id amount feature } } } }';
const CONSUME = `mutation($input: ConsumeCreditsInput!) { consumeCredits(input: $input) { id amount balanceAfter } }`;
const AUDIT = '{ auditLedger { usersChecked driftedUserIds ok } }';

describe('npm start with no DATABASE_URL: the embedded default', () => {
  const dirs: string[] = [];
  let dataDir: string;
  let first: Started;
  let balanceAfterConsume: number;
  let historyIds: string[];

  beforeAll(async () => {
    dataDir = await tempDir('tally-start');
    dirs.push(dataDir);
    first = await startServer({ DATA_DIR: dataDir, PORT: String(await freePort()) });
  }, BOOT_MS + 30_000);
  afterAll(async () => {
    await stopAllProcesses(dirs);
    await removeDirs(dirs);
  }, 60_000);

  it('prints the URL and a demo Authorization header whose token works', async () => {
    expect(first.url).toMatch(/^http:\/\/localhost:\d+$/);
    const res = await graphql<Me>(first.url, ME, { token: first.token });
    expect(res.errors).toBeUndefined();
    expect(res.data?.me.clerkUserId).toBe('user_demo');
    expect(res.data?.me.creditBalance).toBeGreaterThan(0);
  });

  it("prints a link to the console that signs in the demo admin, the token in the link's fragment", async () => {
    // Printed on the embedded database, where the seeded user_admin is the development admin.
    const [, printed] = await first.server.waitForOutput(/^Support console, signed in as the admin user_admin:\n {2}(\S+)\n/m, { timeoutMs: 10_000 });
    const link = new URL(printed!);
    expect(`${link.origin}${link.pathname}`).toBe(`${first.url}/console/`);
    const page = await fetch(`${link.origin}${link.pathname}`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/console/assets/console.js');
    const token = /^#token=(\S+)$/.exec(link.hash)?.[1];
    const me = await graphql<{ me: { clerkUserId: string; roles: string[] } }>(first.url, '{ me { clerkUserId roles } }', { token });
    expect(me.data?.me).toEqual({ clerkUserId: 'user_admin', roles: ['admin'] });
  });

  it('answers /healthz and, without a token, creditPacks', async () => {
    expect(await healthStatus(first.url)).toBe(200);
    const res = await graphql<{ creditPacks: { id: string }[] }>(first.url, '{ creditPacks { id } }');
    expect(res.errors).toBeUndefined();
    expect(res.data?.creditPacks).toHaveLength(3);
    const me = await graphql(first.url, ME);
    expect(me.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('takes a write that must survive a restart', async () => {
    const before = (await graphql<Me>(first.url, ME, { token: first.token })).data!.me.creditBalance;
    const res = await graphql<{ consumeCredits: { id: string; amount: number; balanceAfter: number } }>(first.url, CONSUME, {
      token: first.token,
      variables: { input: { amount: 1, feature: 'startup_test', idempotencyKey: 'startup-restart-1' } },
    });
    expect(res.errors).toBeUndefined();
    expect(res.data?.consumeCredits).toMatchObject({ amount: -1, balanceAfter: before - 1 });
    balanceAfterConsume = before - 1;
    const history = await graphql<History>(first.url, HISTORY, { token: first.token });
    historyIds = history.data!.creditHistory.edges.map((edge) => edge.node.id);
    expect(historyIds).toContain(res.data!.consumeCredits.id);
  });

  it('stops on SIGTERM with exit code 0 and takes its PostgreSQL with it', async () => {
    expect(await postgresProcessesFor(dataDir)).not.toEqual([]);
    first.server.child.kill('SIGTERM');
    const exit = await first.server.waitForExit(60_000);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await postgresLeftAfter(dataDir)).toEqual([]);
    expect(existsSync(path.join(dataDir, 'postgres', 'pg', 'postmaster.pid'))).toBe(false);
  }, 120_000);

  it('starts again on the same DATA_DIR: same data, no second seed, the first token still valid', async () => {
    const second = await startServer({ DATA_DIR: dataDir, PORT: String(await freePort()) });
    const me = await graphql<Me>(second.url, ME, { token: first.token });
    expect(me.errors).toBeUndefined();
    expect(me.data?.me).toEqual({ clerkUserId: 'user_demo', creditBalance: balanceAfterConsume });

    const history = await graphql<History>(second.url, HISTORY, { token: first.token });
    expect(history.data!.creditHistory.edges.map((edge) => edge.node.id)).toEqual(historyIds);
    expect(history.data!.creditHistory.edges.filter((edge) => edge.node.feature === 'startup_test')).toHaveLength(1);

    // The secret the banner's tokens are signed with is kept in DATA_DIR; an admin token signed with it sees all users.
    const secret = (await readFile(path.join(dataDir, 'dev-auth-secret'), 'utf8')).trim();
    const adminToken = await tokenFor(SEED_USERS.admin.clerkUserId, {}, { secret });
    const audit = await graphql<{ auditLedger: { usersChecked: number; driftedUserIds: string[]; ok: boolean } }>(second.url, AUDIT, {
      token: adminToken,
    });
    expect(audit.errors).toBeUndefined();
    expect(audit.data?.auditLedger).toEqual({ usersChecked: Object.keys(SEED_USERS).length, driftedUserIds: [], ok: true });

    second.server.child.kill('SIGTERM');
    expect(await second.server.waitForExit(60_000)).toEqual({ code: 0, signal: null });
    expect(await postgresLeftAfter(dataDir)).toEqual([]);
  }, BOOT_MS + 60_000);
});

describe('npm start after a first start that was interrupted', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await stopAllProcesses(dirs);
    await removeDirs(dirs);
  }, 60_000);

  it('recovers a cluster that initdb created but that has no application database yet', async () => {
    const dataDir = await tempDir('tally-interrupted');
    dirs.push(dataDir);
    // The state a Ctrl-C leaves between initdb and CREATE DATABASE on the very first start.
    const cluster = await startEmbeddedPostgres({ dir: path.join(dataDir, 'postgres') });
    const admin = new pg.Client({ connectionString: withDatabase(cluster.url, 'postgres') });
    await admin.connect();
    await admin.query('drop database tally');
    await admin.end();
    await cluster.stop();

    const started = await startServer({ DATA_DIR: dataDir, PORT: String(await freePort()) });
    const me = await graphql<Me>(started.url, ME, { token: started.token });
    expect(me.errors).toBeUndefined();
    expect(me.data?.me.clerkUserId).toBe('user_demo');
    started.server.child.kill('SIGTERM');
    expect(await started.server.waitForExit(60_000)).toEqual({ code: 0, signal: null });
    expect(await postgresLeftAfter(dataDir)).toEqual([]);
  }, BOOT_MS + 60_000);
});

describe('npm start with an invalid environment', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await stopAllProcesses(dirs);
    await removeDirs(dirs);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'http://x'],
    ['NODE_ENV', 'staging'],
  ])('%s=%s: exits non-zero with one line on stderr that names the variable', async (variable, value) => {
    const dataDir = await tempDir('tally-badenv');
    dirs.push(dataDir);
    const result = await runNode([MAIN], cleanEnv({ NODE_ENV: 'development', DATA_DIR: dataDir, PORT: '0', [variable]: value }), 60_000);
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
    const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^tally: Invalid ${variable}: `));
    // Nothing was started for a configuration that was never valid.
    expect(existsSync(path.join(dataDir, 'postgres'))).toBe(false);
  }, 90_000);

  it('an unreachable DATABASE_URL: exits non-zero with one line saying why', async () => {
    const dataDir = await tempDir('tally-badenv');
    dirs.push(dataDir);
    // A port that was free a moment ago: nothing listens there.
    const databaseUrl = `postgres://tally:pw@127.0.0.1:${await freePort()}/tally`;
    const result = await runNode([MAIN], cleanEnv({ NODE_ENV: 'development', DATA_DIR: dataDir, PORT: '0', DATABASE_URL: databaseUrl }), 60_000);
    expect(result.code).toBe(1);
    const lines = result.stderr.split('\n').filter((line) => line.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tally: failed to start: /);
    expect(lines[0]).not.toContain(':pw@');
  }, 90_000);
});

describe('npm start with DATABASE_URL: /healthz follows the database', () => {
  const dirs: string[] = [];
  let cluster: EmbeddedCluster | undefined;
  let clusterDir: string;
  let started: Started;

  beforeAll(async () => {
    clusterDir = await tempDir('tally-health-db');
    const dataDir = await tempDir('tally-health');
    dirs.push(clusterDir, dataDir);
    cluster = await startEmbeddedPostgres({ dir: clusterDir, settings: { fsync: 'off' } });
    started = await startServer({ DATABASE_URL: cluster.url, DATA_DIR: dataDir, PORT: String(await freePort()) });
  }, BOOT_MS + 30_000);
  afterAll(async () => {
    await stopAllProcesses();
    await cluster?.stop();
    await stopAllProcesses(dirs);
    await removeDirs(dirs);
  }, 60_000);

  it('answers 200 while the database is up', async () => {
    expect(await healthStatus(started.url)).toBe(200);
    // An external database is migrated but never seeded.
    const packs = await graphql<{ creditPacks: unknown[] }>(started.url, '{ creditPacks { id } }');
    expect(packs.data?.creditPacks).toEqual([]);
  });

  it('answers 503 while the database is unreachable, and 200 again once it is back', async () => {
    const port = cluster!.port;
    await cluster!.stop();
    cluster = undefined;
    expect(await postgresLeftAfter(clusterDir)).toEqual([]);
    await waitUntil(async () => (await healthStatus(started.url)) === 503, { timeoutMs: 60_000, what: '/healthz to answer 503' });
    const body = await (await fetch(`${started.url}/healthz`)).json();
    expect(body).toMatchObject({ status: 'unavailable' });
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|password/);

    cluster = await startEmbeddedPostgres({ dir: clusterDir, port, settings: { fsync: 'off' } });
    await waitUntil(async () => (await healthStatus(started.url)) === 200, { timeoutMs: 60_000, what: '/healthz to answer 200 again' });
    const packs = await graphql<{ creditPacks: unknown[] }>(started.url, '{ creditPacks { id } }');
    expect(packs.errors).toBeUndefined();
    expect(packs.data?.creditPacks).toEqual([]);
  }, 180_000);

  it('leaves a DATABASE_URL database running when it stops', async () => {
    started.server.child.kill('SIGTERM');
    expect(await started.server.waitForExit(60_000)).toEqual({ code: 0, signal: null });
    expect(await postgresProcessesFor(clusterDir)).not.toEqual([]);
  }, 90_000);
});
