import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Measurement } from './measurement.js';

export interface ScenarioReport {
  name: string;
  summary: string;
  /** The ceilings its throughput and latency are compared with, measured in the same run. */
  ceilings?: string[];
  runs: Measurement[];
}

export interface BenchReport {
  startedAt: string;
  finishedAt?: string;
  environment: Record<string, unknown>;
  settings: Record<string, unknown>;
  scenarios: ScenarioReport[];
  audit?: { ok: boolean; usersChecked: number; driftedUserIds: string[] };
  goals?: Goal[];
}

const RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

const columns = [
  { title: 'conc', width: 5, value: (m: Measurement) => String(m.concurrency) },
  { title: 'req/s', width: 9, value: (m: Measurement) => m.throughput.toFixed(1) },
  { title: 'p50 ms', width: 8, value: (m: Measurement) => m.p50Ms.toFixed(2) },
  { title: 'p99 ms', width: 8, value: (m: Measurement) => m.p99Ms.toFixed(2) },
  { title: 'ok', width: 8, value: (m: Measurement) => String(m.ok) },
  { title: 'insufficient', width: 12, value: (m: Measurement) => String(m.insufficientCredits) },
  { title: 'errors', width: 7, value: (m: Measurement) => String(m.errors) },
  { title: 'cpu/req: api', width: 12, value: (m: Measurement) => micros(m.cpuMicrosPerRequest?.api) },
  { title: 'postgres', width: 8, value: (m: Measurement) => micros(m.cpuMicrosPerRequest?.postgres) },
  { title: 'pgbouncer', width: 9, value: (m: Measurement) => micros(m.cpuMicrosPerRequest?.pooler) },
  { title: 'bench', width: 6, value: (m: Measurement) => micros(m.cpuMicrosPerRequest?.bench) },
  { title: 'api rss', width: 8, value: (m: Measurement) => (m.apiPeakRssMb === undefined ? '-' : `${m.apiPeakRssMb.toFixed(0)}MB`) },
];

const percent = (share: number) => `${(share * 100).toFixed(0)}%`;

/** CPU per request in microseconds; "-" where that party could not be measured. */
function micros(value: number | undefined): string {
  return value === undefined ? '-' : `${value.toFixed(0)}us`;
}

export function formatScenario(report: ScenarioReport): string {
  const lines = [`${report.name}: ${report.summary}`];
  lines.push(columns.map((c) => c.title.padStart(c.width)).join('  '));
  const indent = ' '.repeat(7);
  for (const run of report.runs) {
    lines.push(columns.map((c) => c.value(run).padStart(c.width)).join('  '));
    const shares = Object.entries(run.ofCeilings ?? {});
    if (shares.length > 0) {
      const over = run.p50OverCeilingsMs ?? {};
      lines.push(`${indent}of: ${shares.map(([name, share]) => `${name} ${percent(share)} (p50 ${over[name]! >= 0 ? '+' : ''}${over[name]!.toFixed(2)} ms)`).join(', ')}`);
    }
    for (const note of run.notes ?? []) lines.push(`${indent}${note}`);
    const kinds = Object.entries(run.errorsByKind);
    if (kinds.length > 0) lines.push(`${indent}errors: ${kinds.map(([kind, n]) => `${kind} x${n}`).join(', ')}`);
  }
  return lines.join('\n');
}

/** Puts each consumption run beside every ceiling measured at the same concurrency: its share and its extra p50. */
export function relateToCeilings(scenarios: ScenarioReport[]): void {
  const byName = new Map(scenarios.map((s) => [s.name, s]));
  for (const scenario of scenarios) {
    for (const name of scenario.ceilings ?? []) {
      const ceiling = byName.get(name);
      if (!ceiling) continue;
      for (const run of scenario.runs) {
        const base = ceiling.runs.find((r) => r.concurrency === run.concurrency);
        if (!base || base.throughput <= 0) continue;
        (run.ofCeilings ??= {})[name] = run.throughput / base.throughput;
        (run.p50OverCeilingsMs ??= {})[name] = run.p50Ms - base.p50Ms;
      }
    }
  }
}

export interface Goal {
  what: string;
  value: string;
  met: boolean;
}

/**
 * The performance goals, read from one run's figures: consumeCredits at 16 connections at least half of pgbench's
 * single-statement consumption, its p50 at 1 connection within 0.6 ms of pgbench's, and consumption with a
 * subscribed webhook endpoint within 20% of consumption without one. A goal whose figures are missing is left out.
 */
export function goals(scenarios: ScenarioReport[]): Goal[] {
  const byName = new Map(scenarios.map((s) => [s.name, s]));
  const run = (name: string, concurrency: number) => byName.get(name)?.runs.find((r) => r.concurrency === concurrency);
  const out: Goal[] = [];
  const c16 = run('consume-spread', 16);
  const share = c16?.ofCeilings?.['pgbench-consume-1stmt'];
  if (share !== undefined) out.push({ what: 'consume-spread c16 / pgbench-consume-1stmt (>= 50%)', value: percent(share), met: share >= 0.5 });
  const c1 = run('consume-spread', 1);
  const over = c1?.p50OverCeilingsMs?.['pgbench-consume-1stmt'];
  if (over !== undefined) {
    const base = run('pgbench-consume-1stmt', 1)!;
    out.push({
      what: 'consume-spread c1 p50 - pgbench-consume-1stmt p50 (<= 0.6 ms)',
      value: `${c1!.p50Ms.toFixed(2)} - ${base.p50Ms.toFixed(2)} = ${over.toFixed(2)} ms`,
      met: over <= 0.6,
    });
  }
  for (const concurrency of [16, 64]) {
    const hooked = run('consume-spread-webhook', concurrency);
    const plain = run('consume-spread', concurrency);
    if (hooked && plain && plain.throughput > 0) {
      const ratio = hooked.throughput / plain.throughput;
      out.push({ what: `consume-spread-webhook c${concurrency} / consume-spread (>= 80%)`, value: percent(ratio), met: ratio >= 0.8 });
    }
  }
  return out;
}

/** bench/results/<timestamp>.json (ignored by git). */
export async function writeReport(report: BenchReport): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${report.startedAt.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
