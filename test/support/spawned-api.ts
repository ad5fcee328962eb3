import { freePort } from '../../src/database/embedded-postgres.js';
import { cleanEnv, spawnNode, type Exit, type RunningProcess } from './processes.js';
import { TEST_JWT_SECRET } from './tokens.js';

/**
 * The compiled server (`node dist/src/main.js`, built by `npm test`) as its own process, configured as in
 * production, so a test can SIGKILL it, or take its database away, and watch what a client sees.
 */
export interface SpawnedApi {
  url: string;
  process: RunningProcess;
  /** SIGKILL: no shutdown hook, no draining, exactly like a crash or an OOM kill. */
  kill(): Promise<Exit>;
  stop(): Promise<Exit>;
}

export async function spawnApi(options: { databaseUrl: string; port?: number; env?: Record<string, string> }): Promise<SpawnedApi> {
  const port = options.port ?? (await freePort());
  const child = spawnNode(
    ['dist/src/main.js'],
    cleanEnv({
      NODE_ENV: 'production',
      PORT: String(port),
      DATABASE_URL: options.databaseUrl,
      AUTH_JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_MUTATIONS_PER_MINUTE: '0',
      RATE_LIMIT_QUERIES_PER_MINUTE: '0',
      RATE_LIMIT_ANONYMOUS_PER_MINUTE: '0',
      ...options.env,
    }),
  );
  await child.waitForOutput(/Tally is ready/, { stream: 'stderr', timeoutMs: 60_000 });
  return {
    url: `http://127.0.0.1:${port}`,
    process: child,
    async kill() {
      child.child.kill('SIGKILL');
      return child.exited;
    },
    stop: () => child.stop(),
  };
}

/** /healthz status, or undefined when nothing answered within the bound. */
export async function healthOf(url: string, timeoutMs = 15_000): Promise<number | undefined> {
  try {
    const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return undefined;
  }
}
