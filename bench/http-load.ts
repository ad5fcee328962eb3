import { createHistogram } from 'node:perf_hooks';
import autocannon, { type Instance, type RawRequest } from 'autocannon';
import { Outcomes, type Measurement } from './measurement.js';

/** A request the load generator sends: a fresh body (and token) each time it is asked. */
export interface HttpScenario {
  name: string;
  summary: string;
  /** The raw-SQL ceiling this scenario's throughput is compared with, if any. */
  ceiling?: string;
  nextRequest(): { token?: string; body: string };
}

let current: Instance | undefined;

/** Stops the run in progress (Ctrl-C). */
export function stopHttpLoad(): void {
  current?.stop();
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

/** Closed-loop load: `concurrency` connections, each sending its next request as soon as the last one answered. */
export async function runHttp(url: string, scenario: HttpScenario, concurrency: number, seconds: number): Promise<Measurement> {
  const outcomes = new Outcomes();
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
  // autocannon's own latency histogram has whole-millisecond resolution; the response event has the exact time.
  const latency = createHistogram();
  instance.on('response', (_client: unknown, _status: number, _bytes: number, responseTimeMs: number) => {
    latency.record(Math.max(1, Math.round(responseTimeMs * 1000)));
  });
  current = instance;
  try {
    const result = await instance;
    // Requests the server never answered count as errors, not in the throughput of answered requests.
    const measurement = outcomes.measurement(scenario.name, concurrency, result.duration, latency);
    outcomes.error('connection errors and timeouts', result.errors);
    return { ...measurement, errors: outcomes.errors, errorsByKind: outcomes.errorsByKind };
  } finally {
    current = undefined;
  }
}
