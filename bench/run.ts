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
import { addSpent, cpuPerRequest, cpuSnapshot, type CpuParties, type CpuSnapshot } from './cpu.js';
import { drainOutbox, openBenchDatabase, resetStatements, settle, topStatements } from './database.js';
import { benchHistoryQueries } from './history-queries.js';
import { runHttp, stopHttpLoad, useHttpClient } from './http-load.js';
import { watchRss } from './memory.js';
import { findPgbench, runPgbench, stopPgbench, writePgbenchScripts } from './pgbench.js';
import { startWebhookSink } from './webhook-sink.js';
import { startPgBouncer } from '../test/support/pgbouncer.js';
import { TLS_FIXTURE_DIR } from '../test/support/webhook-receiver.js';
import { mergeRounds, type Measurement } from './measurement.js';
import { progress, timedProgress } from './progress.js';
import { formatScenario, goals, relateToCeilings, writeReport, type BenchReport, type ScenarioReport } from './report.js';
import { baselineScenario, CONSUME_FEATURE, httpScenarios, keySequence, type ScenarioTokens } from './scenarios.js';
import { seed, type BenchUser, type SeededData } from './seed.js';
import { startApi } from './server.js';
import { loadSettings, SettingsError, type BenchSettings } from './settings.js';
import { apiPoolSize, consumeStatements, runSqlCeiling, type ConsumeStatements, type SqlScenario } from './sql-ceiling.js';

let interrupted = false;
/** A connection for reading pg_stat_statements (BENCH_STATEMENTS=1). */
let statementsPool: pg.Pool | undefined;

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
    admin: await issueHs256Token(secret, seeded.admin.clerkUserId, {}, '1d'),
  };
}

/**
 * Every seeded user makes one request (a balance read) before anything is measured, on each API process: the runs
 * then measure returning users, whose token was verified and whose viewer was looked up on an earlier request (each
 * process remembers both for five minutes), as a user of a live product is. A user's very first request costs a
 * signature check and the viewer lookup more (pgbench-consume-2stmt is that path's database side).
 */
async function welcomeUsers(urls: string[], tokens: string[]): Promise<void> {
  const bar = progress(`first requests (${urls.length} API${urls.length > 1 ? 's' : ''})`, tokens.length * urls.length);
  let done = 0;
  let failed = 0;
  for (const url of urls) {
    let next = 0;
    const worker = async () => {
      while (next < tokens.length && !interrupted) {
        const token = tokens[next++]!;
        const response = await fetch(`${url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: '{"query":"{ creditBalance }"}',
        }).catch(() => undefined);
        if (!response?.ok) failed++;
        await response?.arrayBuffer();
        if (++done % 250 === 0) bar.update(done);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  }
  bar.finish(failed > 0 ? `${failed} failed` : undefined);
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
  /** The ceilings its throughput and latency are compared with. */
  ceilings?: string[];
  /** Whose CPU and memory its runs report, when not the benchmark's one API (two APIs and PgBouncer). */
  parties?: CpuParties;
  /**
   * Measured in whole runs, never in rounds: work it starts goes on after its requests are answered (webhook
   * deliveries, a second or so behind the consumption), and a short slice would leave most of it outside the window.
   */
  whole?: boolean;
}

/**
 * Measures scenarios side by side: each is warmed up, then at every concurrency level each runs in turn. A
 * consumption and its ceilings are compared at the same moment of the run (same table sizes, same checkpoint and
 * autovacuum weather), not minutes apart.
 */
async function measureTogether(settings: BenchSettings, parties: CpuParties, contenders: Contender[], pool: pg.Pool): Promise<ScenarioReport[]> {
  const reports = contenders.map(({ name, summary, ceilings }): ScenarioReport => ({ name, summary, ceilings, runs: [] }));
  for (const { name, runner } of contenders) {
    if (settings.warmupSeconds === 0 || interrupted) break;
    const bar = timedProgress(`${name} warm-up`, settings.warmupSeconds);
    await runner(Math.max(...settings.concurrency), settings.warmupSeconds);
    bar.stop();
    await drainOutbox(pool);
  }
  // With several contenders each run is made in rounds: slices of it, taken in turn with the others' slices, so that
  // a consumption and its ceilings meet the same weather on a shared machine (another tenant's burst, a checkpoint).
  const rounds = contenders.length > 1 && !settings.statements ? settings.rounds : 1;
  const slice = rounds > 1 ? Math.max(1, Math.round(settings.seconds / rounds)) : settings.seconds;
  const zero: CpuSnapshot = { api: 0, postgres: 0, pooler: 0, bench: 0 };
  for (const concurrency of settings.concurrency) {
    const parts = contenders.map(() => [] as Measurement[]);
    const spent = contenders.map((): CpuSnapshot | undefined => undefined);
    const peaks = contenders.map((): number | undefined => undefined);
    for (let round = 1; round <= rounds; round++) {
      for (const [i, contender] of contenders.entries()) {
        if (interrupted) return reports;
        const whole = rounds === 1 || contender.whole === true;
        if (whole && round > 1) continue;
        const seconds = whole ? settings.seconds : slice;
        const own = contender.parties ?? parties;
        const bar = timedProgress(`${contender.name} c=${concurrency}${whole ? '' : ` ${round}/${rounds}`}`, seconds);
        if (settings.statements) await resetStatements(statementsPool!);
        const before = cpuSnapshot(own);
        const rss = watchRss(own.apiPids);
        const part = await contender.runner(concurrency, seconds);
        spent[i] = addSpent(spent[i], before, cpuSnapshot(own));
        const peak = rss.stop();
        if (peak !== undefined) peaks[i] = Math.max(peaks[i] ?? 0, peak);
        if (settings.statements) part.notes = [...(part.notes ?? []), 'statements (pg_stat_statements):', ...(await topStatements(statementsPool!))];
        parts[i]!.push(part);
        bar.stop(`${part.throughput.toFixed(0)} req/s`);
        // Every consumption wrote an event; the API's dispatcher fans them out in the background. Each slice starts
        // once the last one's are out, so no run pays for another's (pgbench's, above all, which never dispatches its own).
        await drainOutbox(pool);
      }
    }
    for (const [i, report] of reports.entries()) {
      const run = mergeRounds(parts[i]!);
      run.cpuMicrosPerRequest = cpuPerRequest(zero, spent[i]!, run.answered);
      if (peaks[i] !== undefined) run.apiPeakRssMb = peaks[i];
      report.runs.push(run);
    }
  }
  return reports;
}

/** Two API processes behind PgBouncer in transaction pooling mode, as README's "Behind a transaction pooler" has it. */
async function startPgBouncerPair(options: { databaseUrl: string; jwtSecret: string; dir: string; nodeArgs: string[]; poolSize: number }) {
  const bouncer = await startPgBouncer({ serverUrl: options.databaseUrl, poolSize: options.poolSize });
  onCleanup('PgBouncer', () => bouncer.stop());
  const env = {
    DATABASE_DIRECT_URL: options.databaseUrl,
    DATABASE_PREPARED_STATEMENTS: 'false',
    // Webhook delivery stays with the benchmark's first API, so these two only answer requests.
    WEBHOOK_WORKER_INTERVAL_MS: '0',
  };
  const url = bouncer.urlFor(options.databaseUrl);
  const apis = await Promise.all(['a', 'b'].map((name) => startApi({ ...options, databaseUrl: url, name: `pgbouncer-${name}`, env })));
  return { bouncer, apis };
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
  useHttpClient(settings.client);
  installSignalHandlers(() => {
    interrupted = true;
    stopHttpLoad();
    stopPgbench();
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
  // An idle connection closed under it (PostgreSQL stopping at the end) is no failure; queries still report theirs.
  pool.on('error', () => undefined);
  onCleanup('seed pool', () => pool.end());
  statementsPool = pool;
  const seeded = await seed(pool, runId, settings.users);
  await settle(pool);

  const jwtSecret = randomBytes(48).toString('base64url');
  const tokens = await signTokens(jwtSecret, seeded);
  const api = await startApi({
    databaseUrl: database.url,
    jwtSecret,
    dir,
    nodeArgs: settings.serverNodeArgs,
    // The webhook scenario's endpoint is created by an admin, and its receiver is HTTPS on 127.0.0.1. One endpoint
    // taking every consumption's event (about 1,000/s) needs more attempts in flight than the defaults allow
    // (4 per endpoint, 16 per instance), as README's Events section says.
    env: {
      ADMIN_USER_IDS: seeded.admin.clerkUserId,
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      NODE_EXTRA_CA_CERTS: path.join(TLS_FIXTURE_DIR, 'cert.pem'),
      WEBHOOK_ENDPOINT_CONCURRENCY: '16',
      WEBHOOK_CONCURRENCY: '64',
    },
  });
  report.environment.apiPoolSize = apiPoolSize(database.url);
  // Whose CPU time each run reports.
  const parties: CpuParties = { apiPids: [api.pid], postgresDataDir: database.dataDir };
  process.stderr.write(`bench: API pid ${api.pid} on ${api.url} (NODE_ENV=production, logs in ${api.logFile})\n`);

  const platform = database.orm.em.getPlatform();
  const statements: ConsumeStatements = consumeStatements((sql, params) => platform.formatQuery(sql, params));
  report.environment.ceilingStatements = [statements.viewerSql, statements.consumeSql.trim(), statements.memberConsumeSql.trim()];
  const selected = (name: string) => !settings.scenarios || settings.scenarios.has(name);
  const scenarios = httpScenarios(runId, tokens).filter((scenario) => selected(scenario.name) || scenario.ceilings?.some(selected));

  // The ceilings: pgbench's prepared consumption (one statement, and the two a consumption sends without the
  // viewer cache), and the same work over node-pg as the API sends it.
  const ceilings = new Map<string, Contender>();
  const pgbench = findPgbench();
  if (!pgbench) process.stderr.write('bench: pgbench not found (PATH, pg_config --bindir, /usr/lib/postgresql/*/bin): apt-get install postgresql-15 (or postgresql-client) for the pgbench ceilings; measuring without them\n');
  else {
    report.environment.pgbench = execFileSync(pgbench, ['--version'], { encoding: 'utf8' }).trim();
    for (const script of await writePgbenchScripts(path.join(dir, 'pgbench'), settings.users)) {
      const runner: Runner = (concurrency, seconds) =>
        runPgbench({ pgbench, url: database.url, script, runId, feature: CONSUME_FEATURE, concurrency, seconds, logDir: path.join(dir, 'pgbench-logs') });
      ceilings.set(script.name, { name: script.name, summary: script.summary, runner });
    }
  }
  for (const ceiling of sqlScenarios(runId, seeded)) {
    const runner: Runner = (c, s) => runSqlCeiling(database.url, statements, ceiling, CONSUME_FEATURE, c, s, () => interrupted);
    ceilings.set(ceiling.name, { name: ceiling.name, summary: ceiling.summary, runner });
  }

  // What the webhook and PgBouncer scenarios need, started only when they run.
  const sink = scenarios.some((s) => s.via === 'webhook' && selected(s.name)) ? await startWebhookSink(api.url, tokens.admin) : undefined;
  let pair: Awaited<ReturnType<typeof startPgBouncerPair>> | undefined;
  if (scenarios.some((s) => s.via === 'pgbouncer-pair' && selected(s.name))) {
    pair = await startPgBouncerPair({ databaseUrl: database.url, jwtSecret, dir, nodeArgs: settings.serverNodeArgs, poolSize: apiPoolSize(database.url) });
    process.stderr.write(`bench: PgBouncer (transaction pooling, pool ${pair.bouncer.poolSize}) with APIs ${pair.apis.map((a) => `pid ${a.pid}`).join(', ')}\n`);
    report.environment.pgbouncer = { poolSize: pair.bouncer.poolSize, apis: pair.apis.map((a) => a.logFile) };
  }

  // BENCH_BASELINE: another build beside this one, measured on consume-spread in the same rounds.
  let baseline: Awaited<ReturnType<typeof startApi>> | undefined;
  if (settings.baselineMain && selected('consume-spread')) {
    baseline = await startApi({
      databaseUrl: database.url,
      jwtSecret,
      dir,
      nodeArgs: settings.serverNodeArgs,
      name: 'baseline',
      main: settings.baselineMain,
      env: { WEBHOOK_WORKER_INTERVAL_MS: '0' },
    });
    process.stderr.write(`bench: baseline API pid ${baseline.pid} from ${settings.baselineMain}\n`);
    report.environment.baseline = settings.baselineMain;
  }

  await welcomeUsers([api.url, ...(pair?.apis.map((a) => a.url) ?? []), ...(baseline ? [baseline.url] : [])], tokens.spread);

  // Scenarios sharing their first ceiling are measured together, so a consumption, its variants and its ceilings
  // are compared run by run at each concurrency.
  const groups = new Map<string, Contender[]>();
  for (const scenario of scenarios) {
    const key = scenario.ceilings?.[0] ?? scenario.name;
    const group = groups.get(key) ?? [];
    groups.set(key, group);
    for (const name of scenario.ceilings ?? []) {
      const ceiling = ceilings.get(name);
      if (ceiling && !group.includes(ceiling)) group.push(ceiling);
    }
    if (!selected(scenario.name)) continue;
    if (scenario.via === 'webhook') {
      const runner: Runner = (c, s) => sink!.around(() => runHttp(api.url, scenario, c, s));
      group.push({ name: scenario.name, summary: scenario.summary, runner, ceilings: scenario.ceilings, whole: true });
    } else if (scenario.via === 'pgbouncer-pair') {
      const urls = pair!.apis.map((a) => a.url);
      const runner: Runner = (c, s) => runHttp(urls, scenario, c, s);
      const pairParties: CpuParties = { apiPids: pair!.apis.map((a) => a.pid), poolerPid: pair!.bouncer.pid, postgresDataDir: database.dataDir };
      group.push({ name: scenario.name, summary: scenario.summary, runner, ceilings: scenario.ceilings, parties: pairParties });
    } else {
      const runner: Runner = (c, s) => runHttp(api.url, scenario, c, s);
      group.push({ name: scenario.name, summary: scenario.summary, runner, ceilings: scenario.ceilings });
    }
    if (baseline && scenario.name === 'consume-spread') {
      const other = baselineScenario(runId, tokens.spread);
      const runner: Runner = (c, s) => runHttp(baseline.url, other, c, s);
      const own: CpuParties = { apiPids: [baseline.pid], postgresDataDir: database.dataDir };
      group.push({ name: other.name, summary: other.summary, runner, ceilings: scenario.ceilings, parties: own });
    }
  }
  for (const contenders of groups.values()) {
    if (interrupted) break;
    if (contenders.length > 0) report.scenarios.push(...(await measureTogether(settings, parties, contenders, pool)));
  }
  if (!interrupted) {
    const measure = async (name: string, summary: string, runner: Runner) =>
      (await measureTogether(settings, parties, [{ name, summary, runner }], pool))[0]!;
    const history = { pool, apiUrl: api.url, jwtSecret, runId, selected, measure };
    report.scenarios.push(...(await benchHistoryQueries(history)));
  }
  if (interrupted) return 130;

  relateToCeilings(report.scenarios);
  report.goals = goals(report.scenarios);
  await api.stop();
  for (const other of pair?.apis ?? []) await other.stop();
  await baseline?.stop();

  const audit = await auditLedger(database.orm.em.fork());
  const [hot] = (await pool.query<{ credit_balance: number }>('select credit_balance from accounts where id = $1', [seeded.hot.id])).rows;
  report.audit = audit;
  report.environment.hotUserBalanceLeft = hot?.credit_balance;
  report.finishedAt = new Date().toISOString();
  const file = await writeReport(report);

  process.stdout.write(`\nTally benchmark ${report.startedAt}  (${database.description}; node ${process.version}; ${os.cpus().length} CPUs)\n`);
  process.stdout.write(`${settings.users} users, ${settings.seconds}s per run, closed loop (each connection sends its next request when the last is answered), HTTP load by ${settings.client === 'keepalive' ? 'the keep-alive client' : 'autocannon'}\n\n`);
  for (const scenario of report.scenarios) process.stdout.write(`${formatScenario(scenario)}\n\n`);
  process.stdout.write(
    `ledger audit: ${audit.ok ? 'clean' : 'DRIFT'} (${audit.usersChecked} users checked${audit.ok ? '' : `; drifted: ${audit.driftedUserIds.slice(0, 20).join(', ')}`})\n`,
  );
  for (const goal of report.goals) process.stdout.write(`goal ${goal.met ? 'met   ' : 'missed'}  ${goal.what}: ${goal.value}\n`);
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
