import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import autocannon, { type Instance, type RawRequest } from 'autocannon';
import { runKeepAlive } from './keepalive-client.js';
import { Outcomes, type Measurement } from './measurement.js';

/**
 * The load generator: `keepalive` (keepalive-client.ts, the default), lean as pgbench is on its side, or `autocannon`
 * (BENCH_CLIENT=autocannon), general-purpose and about twice the CPU per request on this machine (0.12-0.16 ms
 * against 0.06-0.09 at 16 connections).
 */
export type HttpClient = 'keepalive' | 'autocannon';
let client: HttpClient = 'keepalive';

export function useHttpClient(kind: HttpClient): void {
  client = kind;
}

/** A request the load generator sends: a fresh body (and token) each time it is asked. */
export interface HttpScenario {
  name: string;
  summary: string;
  /** The ceilings (pgbench, raw SQL) this scenario's throughput and latency are compared with, measured beside it. */
  ceilings?: string[];
  /** Where its requests go: the API (default), the API with a webhook endpoint subscribed, two APIs behind PgBouncer. */
  via?: 'webhook' | 'pgbouncer-pair';
  nextRequest(): { token?: string; body: string };
}

const current = new Set<Instance>();
let stopped = false;

/** Stops the run in progress (Ctrl-C). */
export function stopHttpLoad(): void {
  stopped = true;
  for (const instance of current) instance.stop();
}

function classify(outcomes: Outcomes, status: number, body: string) {
  if (status < 200 || status >= 300) {
    outcomes.error(`HTTP ${status}`);
    return;
  }
  // A success body never contains `"errors"`; parsing only the failures keeps the generator's CPU for sending.
  if (!body.includes('"errors"')) {
    outcomes.ok++;
    return;
  }
  let code = 'unparseable response';
  try {
    const parsed = JSON.parse(body) as { errors?: { extensions?: { code?: string } }[] };
    code = parsed.errors?.[0]?.extensions?.code ?? 'error without code';
  } catch {
    // Counted under the default kind.
  }
  if (code === 'INSUFFICIENT_CREDITS') outcomes.insufficientCredits++;
  else outcomes.error(code);
}

/**
 * Closed-loop load: `concurrency` connections, each sending its next request as soon as the last one answered. With
 * several API URLs the connections are dealt out among them (one each, in turn) and the figures are of all of them.
 */
export async function runHttp(urls: string | string[], scenario: HttpScenario, concurrency: number, seconds: number): Promise<Measurement> {
  const targets = (Array.isArray(urls) ? urls : [urls]).slice(0, concurrency);
  const outcomes = new Outcomes();
  // autocannon's own latency histogram has whole-millisecond resolution; the response event has the exact time.
  const latency = createHistogram();
  const results = await Promise.all(
    targets.map((url, i) => {
      const connections = Math.floor(concurrency / targets.length) + (i < concurrency % targets.length ? 1 : 0);
      return runInstance(url, scenario, connections, seconds, outcomes, latency);
    }),
  );
  const duration = Math.max(...results.map((result) => result.duration));
  // Requests the server never answered count as errors, not in the throughput of answered requests.
  const measurement = outcomes.measurement(scenario.name, concurrency, duration, latency);
  outcomes.error('connection errors and timeouts', results.reduce((sum, result) => sum + result.errors, 0));
  measurement.errors = outcomes.errors;
  measurement.errorsByKind = outcomes.errorsByKind;
  return measurement;
}

async function runInstance(url: string, scenario: HttpScenario, concurrency: number, seconds: number, outcomes: Outcomes, latency: RecordableHistogram) {
  if (client === 'keepalive') {
    return runKeepAlive({
      url,
      path: '/graphql',
      connections: concurrency,
      seconds,
      timeoutSeconds: 30,
      next: () => scenario.nextRequest(),
      onAnswer(status, body, micros) {
        latency.record(micros);
        classify(outcomes, status, body);
      },
      shouldStop: () => stopped,
    });
  }
  const instance = autocannon({
    url: `${url}/graphql`,
    connections: concurrency,
    duration: seconds,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: '/graphql',
        setupRequest(request: RawRequest) {
          const { token, body } = scenario.nextRequest();
          const headers: Record<string, string> = { 'content-type': 'application/json' };
          if (token) headers.authorization = `Bearer ${token}`;
          return { ...request, headers, body };
        },
        onResponse(status, body) {
          classify(outcomes, status, body);
        },
      },
    ],
  });
  instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTimeMs: number) => {
    latency.record(Math.max(1, Math.round(responseTimeMs * 1000)));
  });
  current.add(instance);
  try {
    return await instance;
  } finally {
    current.delete(instance);
  }
}
