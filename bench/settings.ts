import { existsSync } from 'node:fs';
import path from 'node:path';

/** What a benchmark run does, from BENCH_* variables (and DATABASE_URL); bad values stop it with one clear line. */
export interface BenchSettings {
  /** Users seeded with credits; consumption and balance reads rotate over all of them. */
  users: number;
  /** Length of each measured run, per scenario and concurrency. */
  seconds: number;
  /** Unmeasured load before each scenario's first run (JIT, pools, caches). */
  warmupSeconds: number;
  concurrency: number[];
  /** Only these scenarios (names as printed), when set. */
  scenarios?: Set<string>;
  /** fsync and synchronous_commit off on the embedded cluster: faster, and no longer what production does. */
  fast: boolean;
  databaseUrl?: string;
  /** pg_stat_statements on the embedded cluster: after each run, the statements PostgreSQL counted, most called first. */
  statements: boolean;
  /** Extra `node` arguments for the API process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
  serverNodeArgs: string[];
  /**
   * Rounds of each run (BENCH_ROUNDS, 5): a scenario measured beside others (a consumption and its ceilings) runs in
   * this many slices of BENCH_SECONDS / rounds (whole seconds), taken in turn with theirs, and the slices add up.
   */
  rounds: number;
  /** The HTTP load generator (BENCH_CLIENT): the lean keep-alive client, or autocannon. */
  client: 'keepalive' | 'autocannon';
  /**
   * Another build's entry point (BENCH_BASELINE: its `dist/src/main.js`, or the folder holding `dist`), run as a second
   * API on the same database: consume-spread is then measured on both, in the same rounds, as
   * `consume-spread-baseline` beside it, so a change is compared with what it replaces in the same weather.
   */
  baselineMain?: string;
}

export class SettingsError extends Error {}

function whole(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) throw new SettingsError(`${name}: expected a whole number ${min}..${max}, got "${raw}"`);
  return value;
}

function list(env: NodeJS.ProcessEnv, name: string): string[] | undefined {
  const raw = env[name]?.trim();
  return raw ? raw.split(/[\s,]+/).filter(Boolean) : undefined;
}

function httpClient(raw: string | undefined): BenchSettings['client'] {
  const value = raw?.trim() || 'keepalive';
  if (value !== 'keepalive' && value !== 'autocannon') throw new SettingsError(`BENCH_CLIENT: expected keepalive or autocannon, got "${value}"`);
  return value;
}

function baselineMain(raw: string | undefined): string | undefined {
  const value = raw?.trim();
  if (!value) return undefined;
  const candidates = value.endsWith('.js') ? [value] : [path.join(value, 'dist', 'src', 'main.js'), path.join(value, 'src', 'main.js')];
  const found = candidates.map((candidate) => path.resolve(candidate)).find((candidate) => existsSync(candidate));
  if (!found) throw new SettingsError(`BENCH_BASELINE: no build at "${value}" (expected a main.js, or a folder with dist/src/main.js)`);
  return found;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const concurrency = (list(env, 'BENCH_CONCURRENCY') ?? ['1', '16', '64']).map((value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new SettingsError(`BENCH_CONCURRENCY: expected whole numbers 1..1024, got "${value}"`);
    return n;
  });
  const scenarios = list(env, 'BENCH_SCENARIOS');
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) throw new SettingsError('DATABASE_URL: expected a postgres:// URL');
  return {
    users: whole(env, 'BENCH_USERS', 10_000, 1, 10_000_000),
    seconds: whole(env, 'BENCH_SECONDS', 10, 1, 3600),
    warmupSeconds: whole(env, 'BENCH_WARMUP_SECONDS', 2, 0, 600),
    concurrency,
    scenarios: scenarios ? new Set(scenarios) : undefined,
    fast: env.BENCH_FAST === '1' || env.BENCH_FAST === 'true',
    databaseUrl,
    statements: env.BENCH_STATEMENTS === '1' || env.BENCH_STATEMENTS === 'true',
    serverNodeArgs: list(env, 'BENCH_SERVER_NODE_ARGS') ?? [],
    client: httpClient(env.BENCH_CLIENT),
    rounds: whole(env, 'BENCH_ROUNDS', 5, 1, 100),
    baselineMain: baselineMain(env.BENCH_BASELINE),
  };
}
