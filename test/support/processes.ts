import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository's root, from the sources (tests) or from their build in dist/ (the benchmark). */
export const REPO_ROOT = ((here: string) => (path.basename(here) === 'dist' ? path.dirname(here) : here))(fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, ''));

/**
 * A child's environment built from scratch, so nothing from the developer's shell (a DATABASE_URL above all) leaks
 * into a process whose configuration a test is about.
 */
export function cleanEnv(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = { NO_COLOR: '1', FORCE_COLOR: '0' };
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG']) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  for (const [name, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/** A temporary directory readable by the `postgres` user that the embedded cluster runs as under root. */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `${prefix}-`));
  await chmod(dir, 0o755);
  return dir;
}

export async function waitUntil<T>(
  probe: () => Promise<T | undefined | false>,
  { timeoutMs, what, intervalMs = 100 }: { timeoutMs: number; what: string; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Command lines of the PostgreSQL processes whose arguments mention `dir` (the cluster's data directory). */
export async function postgresProcessesFor(dir: string): Promise<string[]> {
  try {
    const { stdout } = await run('pgrep', ['-a', '-f', dir]);
    return stdout
      .split('\n')
      .filter((line) => line.includes('postgres'))
      .map((line) => line.trim());
  } catch (error) {
    // pgrep exits 1 when nothing matches.
    if ((error as { code?: number }).code === 1) return [];
    throw error;
  }
}

/** Waits for every PostgreSQL process of `dir` to be gone; returns what is still running when time runs out. */
export async function postgresLeftAfter(dir: string, timeoutMs = 15_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = await postgresProcessesFor(dir);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Last resort for a cluster whose owner was killed: an immediate shutdown of the postmaster named in postmaster.pid. */
export async function killStrayPostgres(dataDir: string): Promise<void> {
  for (const pidFile of [path.join(dataDir, 'postgres', 'pg', 'postmaster.pid'), path.join(dataDir, 'pg', 'postmaster.pid')]) {
    const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // Already gone.
      }
    }
  }
  await postgresLeftAfter(dataDir, 10_000);
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RunningProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<Exit>;
  /** Resolves with the first match of `pattern` in the stream; rejects if the process exits or time runs out. */
  waitForOutput(pattern: RegExp, options?: { stream?: 'stdout' | 'stderr'; timeoutMs?: number }): Promise<RegExpMatchArray>;
  waitForExit(timeoutMs?: number): Promise<Exit>;
  /** SIGTERM, then SIGKILL if it does not exit in time. Safe to call more than once or after exit. */
  stop(timeoutMs?: number): Promise<Exit>;
}

const running = new Set<RunningProcess>();

/** Runs `node <args>` from the repository root. Every process started here is tracked for `stopAllProcesses`. */
export function spawnNode(args: string[], env: Record<string, string>): RunningProcess {
  return spawnProcess(process.execPath, args, env);
}

/** Runs `command <args>` from the repository root (a server other than ours, e.g. PgBouncer), tracked the same way. */
export function spawnProcess(command: string, args: string[], env: Record<string, string>): RunningProcess {
  const child = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((listener) => listener());
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    output.stdout += chunk;
    notify();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    output.stderr += chunk;
    notify();
  });
  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => {
      exit = { code, signal };
      notify();
      resolve(exit);
    });
    child.on('error', () => {
      exit = { code: null, signal: null };
      notify();
      resolve(exit);
    });
  });

  const describe = () => `${path.basename(command)} ${args.join(' ')}\n--- stdout ---\n${output.stdout.slice(-4000)}\n--- stderr ---\n${output.stderr.slice(-4000)}`;

  const handle: RunningProcess = {
    child,
    stdout: () => output.stdout,
    stderr: () => output.stderr,
    exited,
    waitForOutput(pattern, { stream = 'stderr', timeoutMs = 120_000 } = {}) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(output[stream]);
          if (match) return finish(() => resolve(match));
          if (exit) return finish(() => reject(new Error(`process exited (${exit!.code ?? exit!.signal}) before printing ${pattern}: ${describe()}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`timed out waiting for ${pattern}: ${describe()}`))), timeoutMs);
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      });
    },
    async waitForExit(timeoutMs = 60_000) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out waiting for exit: ${describe()}`)), timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async stop(timeoutMs = 30_000) {
      if (!exit) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        await exited;
        clearTimeout(timer);
      }
      running.delete(handle);
      return exit!;
    },
  };
  running.add(handle);
  void exited.then(() => running.delete(handle));
  return handle;
}

/** Runs `node <args>` to completion and returns its exit and output. */
export async function runNode(args: string[], env: Record<string, string>, timeoutMs = 120_000) {
  const child = spawnNode(args, env);
  try {
    const exit = await child.waitForExit(timeoutMs);
    return { ...exit, stdout: child.stdout(), stderr: child.stderr() };
  } finally {
    await child.stop();
  }
}

/** For afterAll: stops every process still running, then any cluster left in these data directories. */
export async function stopAllProcesses(dataDirs: string[] = []): Promise<void> {
  await Promise.all([...running].map((handle) => handle.stop()));
  for (const dir of dataDirs) await killStrayPostgres(dir);
}

export async function removeDirs(dirs: string[]): Promise<void> {
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
}

/** Text without ANSI colour codes (the MikroORM CLI colours its output). */
export const plain = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, '');
