import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from '../../src/database/embedded-postgres.js';
import { clusterUrl } from './database.js';
import { cleanEnv, spawnProcess, tempDir, waitUntil, type RunningProcess } from './processes.js';

const run = promisify(execFile);

/**
 * PgBouncer (the system's package, `apt-get install pgbouncer`) in transaction pooling mode in front of the tests'
 * embedded PostgreSQL: every database of the cluster is reachable through it under its own name.
 */
export interface PgBouncer {
  port: number;
  /** Its process (for CPU accounting). */
  pid: number;
  /** Server connections per database (and user): fewer than the clients' connections, so they really are shared. */
  poolSize: number;
  /** The URL of `directUrl`'s database through PgBouncer (same user, password and database; PgBouncer's port). */
  urlFor(directUrl: string): string;
  /** The rows of an admin console command (`SHOW POOLS`, `SHOW STATS`) for one database. */
  show(command: 'POOLS' | 'STATS', database: string): Promise<Record<string, string>>;
  /** What PgBouncer logged (warnings, refused start-up parameters, closed clients). */
  log(): string;
  stop(): Promise<void>;
}

/** The start-up parameters Tally's pool sends (database/orm-options.ts), which PgBouncer cannot pass on. */
export const IGNORED_STARTUP_PARAMETERS = ['extra_float_digits', 'statement_timeout', 'idle_in_transaction_session_timeout'];

const CANDIDATES = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer', '/usr/local/sbin/pgbouncer', '/usr/local/bin/pgbouncer'];

/** The pgbouncer binary; a missing one fails the test that needs it, naming the fix (it is never skipped). */
export async function pgbouncerBinary(): Promise<string> {
  const found = CANDIDATES.find((candidate) => existsSync(candidate));
  if (found) return found;
  const onPath = await run('which', ['pgbouncer']).then(
    ({ stdout }) => stdout.trim(),
    () => '',
  );
  if (onPath) return onPath;
  throw new Error(`pgbouncer is not installed (looked in ${CANDIDATES.join(', ')} and PATH): apt-get install -y pgbouncer (.ci/run does)`);
}

/** The ini the tests run PgBouncer with; README ("Behind a transaction pooler") shows the same settings. */
export function pgbouncerIni(options: { port: number; serverPort: number; authFile: string; poolSize: number }): string {
  return `[databases]
* = host=127.0.0.1 port=${options.serverPort}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${options.port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = ${options.authFile}
admin_users = postgres
pool_mode = transaction
default_pool_size = ${options.poolSize}
max_client_conn = 1000
ignore_startup_parameters = ${IGNORED_STARTUP_PARAMETERS.join(',')}
`;
}

/** In front of the tests' cluster, or of `serverUrl`'s (the benchmark's). */
export async function startPgBouncer(options: { poolSize?: number; serverUrl?: string } = {}): Promise<PgBouncer> {
  const binary = await pgbouncerBinary();
  const poolSize = options.poolSize ?? 8;
  const cluster = new URL(options.serverUrl ?? clusterUrl());
  const user = decodeURIComponent(cluster.username);
  const password = decodeURIComponent(cluster.password);
  const dir = await tempDir('tally-pgbouncer');
  const port = await freePort();
  const authFile = path.join(dir, 'userlist.txt');
  const iniFile = path.join(dir, 'pgbouncer.ini');
  // The cluster's own password: PgBouncer checks clients' SCRAM against it and logs in to PostgreSQL with it.
  await writeFile(authFile, `"${user}" "${password.replaceAll('"', '""')}"\n`, { mode: 0o600 });
  await writeFile(iniFile, pgbouncerIni({ port, serverPort: Number(cluster.port), authFile, poolSize }), { mode: 0o600 });
  // PgBouncer refuses to run as root; as root (CI), it runs as the `postgres` user the embedded cluster runs as.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const uid = Number(stdout.trim());
    for (const file of [authFile, iniFile]) await chown(file, uid, uid);
  }
  const child: RunningProcess = spawnProcess(binary, [...(asRoot ? ['-u', 'postgres'] : []), iniFile], cleanEnv());
  await child.waitForOutput(/process up: PgBouncer/, { stream: 'stderr', timeoutMs: 15_000 });

  const urlFor = (directUrl: string) => {
    const url = new URL(directUrl);
    url.host = `127.0.0.1:${port}`;
    return url.toString();
  };
  const admin = urlFor(new URL('/pgbouncer', cluster).toString());
  // Ready when a client gets through to PostgreSQL.
  await waitUntil(
    async () => {
      const client = new pg.Client({ connectionString: urlFor(cluster.toString()) });
      await client.connect();
      try {
        return (await client.query('select 1 as ok')).rows[0]?.ok === 1;
      } finally {
        await client.end();
      }
    },
    { timeoutMs: 15_000, what: 'PgBouncer to pass a query through' },
  );

  return {
    port,
    pid: child.child.pid!,
    poolSize,
    urlFor,
    async show(command, database) {
      // The admin console takes the simple query protocol only, which pg uses for a query without parameters.
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      try {
        const { rows } = await client.query<Record<string, string>>(`SHOW ${command}`);
        const row = rows.find((r) => r.database === database);
        if (!row) throw new Error(`SHOW ${command} has no row for ${database}: ${JSON.stringify(rows)}`);
        return row;
      } finally {
        await client.end();
      }
    },
    log: () => child.stderr(),
    async stop() {
      await child.stop();
    },
  };
}
