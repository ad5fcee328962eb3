import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * CPU time spent by each party of a run, from /proc (Linux): the API process, the PostgreSQL cluster (postmaster,
 * live backends and the backends that already exited), and this process (the load generator or the raw-SQL client).
 * On one small machine they all share the same cores, so "where does a request's CPU go" is the question that
 * explains a throughput figure. pgbench, a child of this process, counts as the benchmark's own (it is the client). Parties that cannot be read (another OS, a remote DATABASE_URL) are left out.
 */
export interface CpuParties {
  /** The API processes under load (two behind PgBouncer). */
  apiPids: number[];
  /** PgBouncer, where one is in the way. */
  poolerPid?: number;
  /** The cluster's data directory (its postmaster.pid names the postmaster). */
  postgresDataDir?: string;
}

export interface CpuSnapshot {
  api?: number;
  postgres?: number;
  pooler?: number;
  bench: number;
}

/** Microseconds of CPU per answered request, by party. */
export interface CpuPerRequest {
  api?: number;
  postgres?: number;
  pooler?: number;
  /** This process and the children it waited for (pgbench). */
  bench: number;
}

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime, stime, cutime, cstime and ppid of a process, or undefined when it is gone or /proc is not there. */
function stat(pid: number | string): { own: number; children: number; ppid: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses; everything after its closing ")" is positional.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const n = (i: number) => Number(fields[i]);
  return { ppid: n(1), own: n(11) + n(12), children: n(13) + n(14) };
}

function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The postmaster's own and reaped children's time, plus every live child's. */
function clusterTicks(postmaster: number): number | undefined {
  const root = stat(postmaster);
  if (!root) return undefined;
  let ticks = root.own + root.children;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const child = stat(entry);
    if (child?.ppid === postmaster) ticks += child.own;
  }
  return ticks;
}

export function cpuSnapshot(parties: CpuParties): CpuSnapshot {
  const usage = process.cpuUsage();
  const toMicros = (ticks: number | undefined) => (ticks === undefined ? undefined : (ticks * 1e6) / ticksPerSecond());
  const apis = parties.apiPids.map((pid) => stat(pid)?.own);
  const api = apis.length === 0 || apis.includes(undefined) ? undefined : apis.reduce<number>((sum, ticks) => sum + ticks!, 0);
  const postmaster = parties.postgresDataDir ? postmasterPid(parties.postgresDataDir) : undefined;
  const reaped = stat(process.pid)?.children ?? 0;
  return {
    api: toMicros(api),
    postgres: toMicros(postmaster === undefined ? undefined : clusterTicks(postmaster)),
    pooler: parties.poolerPid === undefined ? undefined : toMicros(stat(parties.poolerPid)?.own),
    bench: usage.user + usage.system + toMicros(reaped)!,
  };
}

export function cpuPerRequest(before: CpuSnapshot, after: CpuSnapshot, answered: number): CpuPerRequest | undefined {
  if (answered <= 0) return undefined;
  const per = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : (b - a) / answered);
  return {
    api: per(before.api, after.api),
    postgres: per(before.postgres, after.postgres),
    pooler: per(before.pooler, after.pooler),
    bench: (after.bench - before.bench) / answered,
  };
}

/** The CPU spent between `before` and `after`, added to `spent` (the rounds of one run); a party unread in any round stays unread. */
export function addSpent(spent: CpuSnapshot | undefined, before: CpuSnapshot, after: CpuSnapshot): CpuSnapshot {
  const delta = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : b - a);
  const plus = (total: number | undefined, more: number | undefined, first: boolean) => (more === undefined || (!first && total === undefined) ? undefined : (total ?? 0) + more);
  const first = spent === undefined;
  return {
    api: plus(spent?.api, delta(before.api, after.api), first),
    postgres: plus(spent?.postgres, delta(before.postgres, after.postgres), first),
    pooler: plus(spent?.pooler, delta(before.pooler, after.pooler), first),
    bench: (spent?.bench ?? 0) + (after.bench - before.bench),
  };
}
