import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { auditLedger } from '../src/credits/audit.js';
import { issueHs256Token } from '../src/graphql/auth.js';
import { cleanup, installSignalHandlers, onCleanup } from './cleanup.js';
import { cpuPerRequest, cpuSnapshot, type CpuParties } from './cpu.js';
import { openBenchDatabase, settle } from './database.js';
import { benchHistoryQueries } from './history-queries.js';
import { runHttp, stopHttpLoad } from './http-load.js';
import type { Measurement } from './measurement.js';
import { progress, timedProgress } from './progress.js';
import { formatScenario, relateToCeilings, writeReport, type BenchReport, type ScenarioReport } from './report.js';
import { CONSUME_FEATURE, httpScenarios, keySequence, type ScenarioTokens } from './scenarios.js';
import { seed, type BenchUser, type SeededData } from './seed.js';
import { startApi } from './server.js';
import { loadSettings, SettingsError, type BenchSettings } from './settings.js';
import { apiPoolSize, consumeStatements, runSqlCeiling, type ConsumeStatements, type SqlScenario } from './sql-ceiling.js';

let interrupted = false;

async function signTokens(secret: string, seeded: SeededData): Promise<ScenarioTokens> {
  const bar = progress('signing tokens', seeded.users.length);
  const spread: string[] = [];
  for (let i = 0; i < seeded.users.length; i += 500) {
    const chunk = seeded.users.slice(i, i + 500);
    spread.push(...(await Promise.all(chunk.map((user) => issueHs256Token(secret, user.clerkUserId, {}, '1d')))));
    bar.update(spread.length);
  }
  bar.finish();
  return {
    spread,
    members: seeded.members.map((member, i) => ({ token: spread[i]!, organizationId: member.organizationId })),
    hot: await issueHs256Token(secret, seeded.hot.clerkUserId, {}, '1d'),
    history: await issueHs256Token(secret, seeded.history.clerkUserId, {}, '1d'),
  };
}

function sqlScenarios(runId: string, seeded: SeededData): SqlScenario[] {
  let i = 0;
  let j = 0;
  return [
    {
      name: 'sql-consume-spread',
      summary: 'raw SQL of one consumption (viewer lookup + ledger POST) over plain pg, rotating over all users',
      nextUser: (): BenchUser => seeded.users[i++ % seeded.users.length]!,
      nextKey: keySequence(runId, 'sql-spread'),
    },
    {
      name: 'sql-consume-org',
      summary: "raw SQL of one organization consumption (viewer lookup + the ledger's POST_MEMBER, limit included) over plain pg, rotating over members",
      nextUser: () => seeded.members[j++ % seeded.members.length]!,
      nextKey: keySequence(runId, 'sql-org'),
    },
    {
      name: 'sql-consume-hot',
      summary: 'raw SQL of one consumption over plain pg, every iteration the hot user',
      nextUser: () => seeded.hot,
      nextKey: keySequence(runId, 'sql-hot'),
    },
  ];
}

type Runner = (concurrency: number, seconds: number) => Promise<Measurement>;

/** One scenario to measure: what it is called, what it does, and how to run it for a while. */
interface Contender {
  name: string;
  summary: string;
  runner: Runner;
  /** The raw-SQL scenario its throughput is compared with. */
  ceiling?: string;
}

/**
 * Measures scenarios side by side: each is warmed up, then at every concurrency level each runs in turn. A
 * consumption and its raw-SQL ceiling are compared at the same moment of the run (same table sizes, same
 * checkpoint and autovacuum weather), not minutes apart.
 */
async function measureTogether(settings: BenchSettings, parties: CpuParties, contenders: Contender[]): Promise<ScenarioReport[]> {
  const reports = contenders.map(({ name, summary, ceiling }): ScenarioReport => ({ name, summary, ceiling, runs: [] }));
  for (const { name, runner } of contenders) {
    if (settings.warmupSeconds === 0 || interrupted) break;
    const bar = timedProgress(`${name} warm-up`, settings.warmupSeconds);
    await runner(Math.max(...settings.concurrency), settings.warmupSeconds);
    bar.stop();
  }
  for (const concurrency of settings.concurrency) {
    for (const [i, { name, runner }] of contenders.entries()) {
      if (interrupted) return reports;
      const bar = timedProgress(`${name} c=${concurrency}`, settings.seconds);
      const before = cpuSnapshot(parties);
      const run = await runner(concurrency, settings.seconds);
      run.cpuMicrosPerRequest = cpuPerRequest(before, cpuSnapshot(parties), run.answered);
      bar.stop(`${run.throughput.toFixed(0)} req/s`);
      reports[i]!.runs.push(run);
    }
  }
  return reports;
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const settings = loadSettings();
  installSignalHandlers(() => {
    interrupted = true;
    stopHttpLoad();
  });
  const report: BenchReport = {
    startedAt: new Date().toISOString(),
    environment: {
      node: process.version,
      platform: `${os.platform()}-${os.arch()}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      commit: gitCommit(),
    },
    settings: { ...settings, scenarios: settings.scenarios ? [...settings.scenarios] : undefined, databaseUrl: settings.databaseUrl ? 'set' : undefined },
    scenarios: [],
  };

  const dir = await mkdtemp(path.join(os.tmpdir(), 'tally-bench-'));
  // Under root the cluster runs as the `postgres` user, which must be able to reach its data directory.
  await chmod(dir, 0o755);
  onCleanup('temp dir', () => rm(dir, { recursive: true, force: true }), () => rmSync(dir, { recursive: true, force: true }));

  const database = await openBenchDatabase(settings, path.join(dir, 'postgres'));
  report.environment.database = database.description;
  process.stderr.write(`bench: ${database.description}; ${settings.users} users; ${settings.seconds}s per run at concurrency ${settings.concurrency.join(', ')}\n`);

  const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: database.url, max: 4 });
  onCleanup('seed pool', () => pool.end());
  const seeded = await seed(pool, runId, settings.users);
  await settle(pool);

  const jwtSecret = randomBytes(48).toString('base64url');
  const tokens = await signTokens(jwtSecret, seeded);
  const api = await startApi({ databaseUrl: database.url, jwtSecret, dir, nodeArgs: settings.serverNodeArgs });
  report.environment.apiPoolSize = apiPoolSize(database.url);
  // Whose CPU time each run reports.
  const parties: CpuParties = { apiPid: api.pid, postgresDataDir: database.dataDir };
  process.stderr.write(`bench: API pid ${api.pid} on ${api.url} (NODE_ENV=production, logs in ${api.logFile})\n`);

  const platform = database.orm.em.getPlatform();
  const statements: ConsumeStatements = consumeStatements((sql, params) => platform.formatQuery(sql, params));
  report.environment.ceilingStatements = [statements.viewerSql, statements.consumeSql.trim(), statements.memberConsumeSql.trim()];
  const sql = new Map(sqlScenarios(runId, seeded).map((s) => [s.name, s]));
  const selected = (name: string) => !settings.scenarios || settings.scenarios.has(name);

  for (const scenario of httpScenarios(runId, tokens)) {
    if (interrupted) break;
    const contenders: Contender[] = [];
    const ceiling = scenario.ceiling ? sql.get(scenario.ceiling) : undefined;
    if (ceiling && (selected(ceiling.name) || selected(scenario.name))) {
      const runner: Runner = (c, s) => runSqlCeiling(database.url, statements, ceiling, CONSUME_FEATURE, c, s, () => interrupted);
      contenders.push({ name: ceiling.name, summary: ceiling.summary, runner });
    }
    if (selected(scenario.name)) {
      const runner: Runner = (c, s) => runHttp(api.url, scenario, c, s);
      contenders.push({ name: scenario.name, summary: scenario.summary, runner, ceiling: scenario.ceiling });
    }
    if (contenders.length > 0) report.scenarios.push(...(await measureTogether(settings, parties, contenders)));
  }
  if (!interrupted) {
    const measure = async (name: string, summary: string, runner: Runner) =>
      (await measureTogether(settings, parties, [{ name, summary, runner }]))[0]!;
    const history = { pool, apiUrl: api.url, jwtSecret, runId, selected, measure };
    report.scenarios.push(...(await benchHistoryQueries(history)));
  }
  if (interrupted) return 130;

  relateToCeilings(report.scenarios);
  await api.stop();

  const audit = await auditLedger(database.orm.em.fork());
  const [hot] = (await pool.query<{ credit_balance: number }>('select credit_balance from accounts where id = $1', [seeded.hot.id])).rows;
  report.audit = audit;
  report.environment.hotUserBalanceLeft = hot?.credit_balance;
  report.finishedAt = new Date().toISOString();
  const file = await writeReport(report);

  process.stdout.write(`\nTally benchmark ${report.startedAt}  (${database.description}; node ${process.version}; ${os.cpus().length} CPUs)\n`);
  process.stdout.write(`${settings.users} users, ${settings.seconds}s per run, closed loop (each connection sends its next request when the last is answered)\n\n`);
  for (const scenario of report.scenarios) process.stdout.write(`${formatScenario(scenario)}\n\n`);
  process.stdout.write(
    `ledger audit: ${audit.ok ? 'clean' : 'DRIFT'} (${audit.usersChecked} users checked${audit.ok ? '' : `; drifted: ${audit.driftedUserIds.slice(0, 20).join(', ')}`})\n`,
  );
  process.stdout.write(`results: ${path.relative(process.cwd(), file)}\n`);

  const silent = report.scenarios.filter((s) => s.runs.some((r) => r.ok === 0));
  if (silent.length > 0) process.stderr.write(`bench: no successful request in: ${silent.map((s) => s.name).join(', ')}\n`);
  return audit.ok && silent.length === 0 ? 0 : 1;
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (error: unknown) => {
    const text = error instanceof SettingsError ? error.message : error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`\nbench: ${error instanceof SettingsError ? 'invalid ' : 'failed: '}${text}\n`);
    await cleanup();
    process.exit(1);
  });
