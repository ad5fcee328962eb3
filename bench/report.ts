import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Measurement } from './measurement.js';

export interface ScenarioReport {
  name: string;
  summary: string;
  ceiling?: string;
  runs: Measurement[];
}

export interface BenchReport {
  startedAt: string;
  finishedAt?: string;
  environment: Record<string, unknown>;
  settings: Record<string, unknown>;
  scenarios: ScenarioReport[];
  audit?: { ok: boolean; usersChecked: number; driftedUserIds: string[] };
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
  { title: 'of ceiling', width: 10, value: (m: Measurement) => (m.ofCeiling === undefined ? '-' : `${(m.ofCeiling * 100).toFixed(0)}%`) },
  { title: 'cpu/req: api', width: 12, value: (m: Measurement) => micros(m.cpuMicrosPerRequest?.api) },
  { title: 'postgres', width: 8, value: (m: Measurement) => micros(m.cpuMicrosPerRequest?.postgres) },
  { title: 'bench', width: 6, value: (m: Measurement) => micros(m.cpuMicrosPerRequest?.bench) },
];

/** CPU per request in microseconds; "-" where that party could not be measured. */
function micros(value: number | undefined): string {
  return value === undefined ? '-' : `${value.toFixed(0)}us`;
}

export function formatScenario(report: ScenarioReport): string {
  const lines = [`${report.name}: ${report.summary}${report.ceiling ? ` (ceiling: ${report.ceiling})` : ''}`];
  lines.push(columns.map((c) => c.title.padStart(c.width)).join('  '));
  for (const run of report.runs) {
    lines.push(columns.map((c) => c.value(run).padStart(c.width)).join('  '));
    const kinds = Object.entries(run.errorsByKind);
    if (kinds.length > 0) lines.push(`${' '.repeat(7)}errors: ${kinds.map(([kind, n]) => `${kind} x${n}`).join(', ')}`);
  }
  return lines.join('\n');
}

/** Puts each consumption run beside the raw-SQL ceiling measured at the same concurrency. */
export function relateToCeilings(scenarios: ScenarioReport[]): void {
  const byName = new Map(scenarios.map((s) => [s.name, s]));
  for (const scenario of scenarios) {
    const ceiling = scenario.ceiling ? byName.get(scenario.ceiling) : undefined;
    if (!ceiling) continue;
    for (const run of scenario.runs) {
      const base = ceiling.runs.find((r) => r.concurrency === run.concurrency);
      if (base && base.throughput > 0) run.ofCeiling = run.throughput / base.throughput;
    }
  }
}

/** bench/results/<timestamp>.json (ignored by git). */
export async function writeReport(report: BenchReport): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${report.startedAt.replace(/[:.]/g, '-')}.json`);
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}
