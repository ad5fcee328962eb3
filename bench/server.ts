import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/database/embedded-postgres.js';
import { onCleanup } from './cleanup.js';

export interface ApiProcess {
  url: string;
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const READY_TIMEOUT_MS = 60_000;

export function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * The API as production runs it, in its own process, so that the load generator and the server do not share one
 * event loop (or one CPU's worth of JIT). Its logs go to a file; the tail is printed if it fails.
 */
export async function startApi(options: {
  databaseUrl: string;
  jwtSecret: string;
  dir: string;
  nodeArgs: string[];
  /** Names the log file (api-<name>.log); the first API's is api.log. */
  name?: string;
  /** Settings of this API beyond the benchmark's (BENCH_API_ENV still applies on top). */
  env?: Record<string, string>;
  /** The entry point to run: this build's by default, another's for BENCH_BASELINE. */
  main?: string;
}): Promise<ApiProcess> {
  const port = await freePort();
  const logFile = path.join(options.dir, options.name ? `api-${options.name}.log` : 'api.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [...options.nodeArgs, options.main ?? MAIN], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      PORT: String(port),
      DATABASE_URL: options.databaseUrl,
      AUTH_JWT_SECRET: options.jwtSecret,
      LOG_LEVEL: 'warn',
      // The benchmark is the abuse; a per-user mutation limit would turn the hot-row scenario into 429s.
      RATE_LIMIT_MUTATIONS_PER_MINUTE: '0',
      RATE_LIMIT_QUERIES_PER_MINUTE: '0',
      RATE_LIMIT_ANONYMOUS_PER_MINUTE: '0',
      ...options.env,
      // More settings for the API under test, e.g. BENCH_API_ENV='{"DATABASE_PREPARED_STATEMENTS":"false"}'.
      ...(process.env.BENCH_API_ENV ? (JSON.parse(process.env.BENCH_API_ENV) as Record<string, string>) : {}),
    },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let alive = true;
  void exited.then(() => (alive = false));

  const stop = async () => {
    if (!alive) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  onCleanup('API process', stop, () => {
    if (alive) child.kill('SIGKILL');
  });

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (!alive) throw new Error(`the API exited during start-up:\n${logTail(logFile)}`);
    const healthy = await fetch(`${url}/healthz`).then((res) => res.ok, () => false);
    if (healthy) break;
    if (Date.now() > deadline) throw new Error(`the API was not healthy after ${READY_TIMEOUT_MS / 1000}s:\n${logTail(logFile)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, pid: child.pid!, logFile, stop };
}
