import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import type { CpuPerRequest } from './cpu.js';

/** One measured run: a scenario at one concurrency, through HTTP or straight to PostgreSQL. */
export interface Measurement {
  scenario: string;
  concurrency: number;
  seconds: number;
  /** Answered requests (or completed SQL iterations) per second. */
  throughput: number;
  answered: number;
  p50Ms: number;
  p99Ms: number;
  ok: number;
  /** Expected refusals: the ledger said no, and wrote nothing. Not errors. */
  insufficientCredits: number;
  /** Everything else that was not a success: GraphQL error codes, non-2xx statuses, connection errors. */
  errors: number;
  errorsByKind: Record<string, number>;
  /** Throughput over each ceiling's at the same concurrency, by ceiling name (consumption scenarios only). */
  ofCeilings?: Record<string, number>;
  /** p50 latency minus each ceiling's p50 at the same concurrency, in ms. */
  p50OverCeilingsMs?: Record<string, number>;
  /** Peak resident memory of the API process(es) during the run, MiB. */
  apiPeakRssMb?: number;
  /** What else the run observed, in words (webhooks received, ...). */
  notes?: string[];
  /** CPU microseconds per answered request: the API process, PostgreSQL, and the benchmark process itself. */
  cpuMicrosPerRequest?: CpuPerRequest;
}

/** Each measurement's latencies, kept beside it (not in the report) so that runs made in rounds can be merged. */
const latencies = new WeakMap<Measurement, RecordableHistogram>();

/**
 * One measurement of runs made in rounds (slices of one run, interleaved with other scenarios' slices): the answers
 * and seconds added up, the percentiles of every latency recorded, the notes of each round.
 */
export function mergeRounds(parts: Measurement[]): Measurement {
  if (parts.length === 1) return parts[0]!;
  const first = parts[0]!;
  const outcomes = new Outcomes();
  const latency = createHistogram();
  let seconds = 0;
  for (const part of parts) {
    outcomes.ok += part.ok;
    outcomes.insufficientCredits += part.insufficientCredits;
    for (const [kind, count] of Object.entries(part.errorsByKind)) outcomes.error(kind, count);
    seconds += part.seconds;
    const recorded = latencies.get(part);
    if (recorded) latency.add(recorded);
  }
  const merged = outcomes.measurement(first.scenario, first.concurrency, seconds, latency);
  const notes = parts.flatMap((part, i) => (part.notes ?? []).map((note) => `round ${i + 1}/${parts.length}: ${note}`));
  if (notes.length > 0) merged.notes = notes;
  return merged;
}

/** Tallies answers as they arrive. */
export class Outcomes {
  ok = 0;
  insufficientCredits = 0;
  errorsByKind: Record<string, number> = {};

  error(kind: string, count = 1) {
    if (count > 0) this.errorsByKind[kind] = (this.errorsByKind[kind] ?? 0) + count;
  }

  get errors(): number {
    return Object.values(this.errorsByKind).reduce((sum, n) => sum + n, 0);
  }

  get answered(): number {
    return this.ok + this.insufficientCredits + this.errors;
  }

  /** The measurement of a run that took `seconds`, with latencies recorded in microseconds. */
  measurement(scenario: string, concurrency: number, seconds: number, latency: RecordableHistogram): Measurement {
    const measurement: Measurement = {
      scenario,
      concurrency,
      seconds,
      throughput: this.answered / seconds,
      answered: this.answered,
      p50Ms: latency.count ? latency.percentile(50) / 1000 : 0,
      p99Ms: latency.count ? latency.percentile(99) / 1000 : 0,
      ok: this.ok,
      insufficientCredits: this.insufficientCredits,
      errors: this.errors,
      errorsByKind: this.errorsByKind,
    };
    latencies.set(measurement, latency);
    return measurement;
  }
}
