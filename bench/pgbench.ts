import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createHistogram } from 'node:perf_hooks';
import { CreditTransactionType } from '../src/credits/credit-transaction.enums.js';
import { POST } from '../src/credits/posting/statements.js';
import { requestHash } from '../src/core/request-hash.js';
import { VIEWER_SQL } from '../src/identity/provisioning.js';
import { Outcomes, type Measurement } from './measurement.js';

/**
 * The fixed ceiling: PostgreSQL's own client, `pgbench -M prepared`, running the consumption against the benchmark's
 * database and users. Two scripts, both built from the statements the ledger sends (imported, not copied, so the
 * ceiling moves when the statement does):
 *
 * - `pgbench-consume-1stmt`: the single-statement consumption (the ledger's POST), prepared. With the viewer cache
 *   warm this is every statement a consumption sends.
 * - `pgbench-consume-2stmt`: the viewer lookup (provisioning's VIEWER_SQL, its id taken with `\gset`) and then POST:
 *   what a consumption sends when the token's subject is not cached (VIEWER_CACHE_SECONDS=0, or the first request).
 *
 * Each transaction picks a user at random among the seeded ones and a new idempotency key (a per-client counter), so
 * the work is the API's consume-spread scenario without HTTP, GraphQL, token checks or Node.
 */
export interface PgbenchScript {
  name: string;
  summary: string;
  file: string;
}

const CANDIDATES = ['/usr/bin/pgbench', '/usr/local/bin/pgbench'];

/** pgbench: on PATH, in `pg_config --bindir`, or in Debian's /usr/lib/postgresql/<version>/bin; undefined when absent. */
export function findPgbench(): string | undefined {
  const onPath = (process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, 'pgbench'));
  let bindir: string[] = [];
  try {
    bindir = [path.join(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(), 'pgbench')];
  } catch {
    // No pg_config: the other places are looked at.
  }
  let debian: string[] = [];
  try {
    debian = readdirSync('/usr/lib/postgresql')
      .sort((a, b) => Number(b) - Number(a))
      .map((version) => path.join('/usr/lib/postgresql', version, 'bin', 'pgbench'));
  } catch {
    // Not Debian's layout.
  }
  return [...onPath, ...bindir, ...CANDIDATES, ...debian].find((candidate) => existsSync(candidate));
}

/** A pgbench expression for each of POST's parameters; constants come in as -D variables, nulls are written as null. */
function postArguments(accountId: string): Record<string, string> {
  return {
    id: `('ctx_pgb' || :prefix::text || :client_id::text || 'n' || :n::text)`,
    accountId,
    actorId: accountId,
    type: ':type',
    amount: ':amount',
    description: ':description',
    feature: ':feature',
    idempotencyKey: `('pgbench-' || :prefix::text || :client_id::text || '-' || :n::text)`,
    requestHash: ':hash',
    workshopId: 'null',
    stripeSessionId: 'null',
    stripePaymentIntentId: 'null',
    refundOfId: 'null',
    creditsReversed: 'null',
    metadata: ':metadata',
  };
}

/** POST with its `?` placeholders replaced, in order, by the expressions named after each parameter. */
function postWith(args: Record<string, string>): string {
  let i = 0;
  return POST.text.replace(/\?/g, () => {
    const name = POST.names[i++]!;
    const expression = args[name];
    if (expression === undefined) throw new Error(`pgbench script: no value for POST's :${name}`);
    return expression;
  });
}

export async function writePgbenchScripts(dir: string, users: number): Promise<PgbenchScript[]> {
  await mkdir(dir, { recursive: true });
  const pick = `\\set u random(1, ${users})\n\\set n :n + 1\n`;
  const seededId = `('usr_b' || :run::text || 'u' || :u::text)`;
  const oneStatement = `${pick}${postWith(postArguments(seededId)).trim()};\n`;
  const viewer = VIEWER_SQL.replace('?', `('bench_' || :run::text || '_' || :u::text)`);
  const twoStatements = `${pick}${viewer}\n\\gset v_\n${postWith(postArguments(':v_id')).trim()};\n`;
  const scripts: PgbenchScript[] = [
    {
      name: 'pgbench-consume-1stmt',
      summary: "pgbench -M prepared: the ledger's single-statement consumption (POST) alone, random user, new key",
      file: path.join(dir, 'consume-1stmt.sql'),
    },
    {
      name: 'pgbench-consume-2stmt',
      summary: 'pgbench -M prepared: the viewer lookup (\\gset) then POST, as a consumption sends them when the subject is not cached',
      file: path.join(dir, 'consume-2stmt.sql'),
    },
  ];
  await writeFile(scripts[0]!.file, oneStatement);
  await writeFile(scripts[1]!.file, twoStatements);
  return scripts;
}

/** The constant parameters, the way Ledger.consume fills them for `amount: 1, feature`. */
function constants(runId: string, label: string, feature: string): string[] {
  const amount = 1;
  const values: Record<string, string> = {
    run: runId,
    prefix: `${runId}${label}`,
    n: '0',
    type: CreditTransactionType.CONSUMPTION,
    amount: String(-amount),
    description: `Used ${amount} credit on ${feature}`,
    feature,
    hash: requestHash('consume', { amount, feature }),
    metadata: JSON.stringify({ requestId: 'pgbench' }),
  };
  return Object.entries(values).flatMap(([name, value]) => ['-D', `${name}=${value}`]);
}

export interface PgbenchRun {
  pgbench: string;
  url: string;
  script: PgbenchScript;
  runId: string;
  feature: string;
  concurrency: number;
  seconds: number;
  /** Where pgbench writes its per-transaction log (one file per thread). */
  logDir: string;
}

let running: import('node:child_process').ChildProcess | undefined;

/** Stops the pgbench run in progress (Ctrl-C). */
export function stopPgbench(): void {
  running?.kill('SIGINT');
}

let runs = 0;

/**
 * One pgbench run: `concurrency` clients on as many connections (threads up to 2: the machine's cores), prepared
 * mode, no vacuum; every transaction's latency is read from its log, for the same percentiles the API's runs report.
 */
export async function runPgbench(options: PgbenchRun): Promise<Measurement> {
  const label = `r${++runs}c${options.concurrency}`;
  const logDir = path.join(options.logDir, label);
  await mkdir(logDir, { recursive: true });
  const args = [
    '-n',
    '-M',
    'prepared',
    '-c',
    String(options.concurrency),
    '-j',
    String(Math.min(options.concurrency, 2)),
    '-T',
    String(options.seconds),
    '-f',
    options.script.file,
    '-l',
    `--log-prefix=${path.join(logDir, 'tx')}`,
    ...constants(options.runId, label, options.feature),
    options.url,
  ];
  const outcomes = new Outcomes();
  const latency = createHistogram();
  const { stdout, stderr, code } = await new Promise<{ stdout: string; stderr: string; code: number | null }>((resolve) => {
    const child = execFile(options.pgbench, args, { maxBuffer: 16 * 2 ** 20, env: { ...process.env, PGCONNECT_TIMEOUT: '10' } }, (error, out, err) =>
      resolve({ stdout: out, stderr: err, code: error ? ((error as { code?: number }).code ?? 1) : 0 }),
    );
    running = child;
  });
  running = undefined;
  try {
    let seconds = options.seconds;
    for (const file of readdirSync(logDir)) {
      // client_id transaction_no latency_us script_no epoch_s epoch_us
      for (const line of readFileSync(path.join(logDir, file), 'utf8').split('\n')) {
        if (!line) continue;
        const fields = line.split(' ');
        const micros = fields[2];
        if (micros === 'failed' || micros === 'skipped') outcomes.error(`pgbench ${micros}`);
        else {
          outcomes.ok++;
          latency.record(Math.max(1, Number(micros)));
        }
      }
    }
    const aborted = /number of failed transactions: (\d+)/.exec(stdout);
    if (aborted && Number(aborted[1]) > 0 && outcomes.errors === 0) outcomes.error('pgbench failed transactions', Number(aborted[1]));
    if (code !== 0 && outcomes.ok === 0) {
      const reason = (stderr || stdout).trim().split('\n').slice(-3).join(' | ');
      outcomes.error(`pgbench exit ${code}: ${reason.slice(0, 300)}`);
    }
    const duration = /duration: (\d+) s/.exec(stdout);
    if (duration) seconds = Number(duration[1]);
    return outcomes.measurement(options.script.name, options.concurrency, seconds, latency);
  } finally {
    await rm(logDir, { recursive: true, force: true });
  }
}
