import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase } from '../support/database.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { tokenFor } from '../support/tokens.js';
import { send } from '../support/http.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const CONSUME = 'mutation Spend($input: ConsumeCreditsInput!) { consumeCredits(input: $input) { id } }';

async function graphql(server: TestServer, subject: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await send(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor(subject)}`, ...headers },
    body: JSON.stringify(body),
  });
  return { ...response, json: JSON.parse(response.text) as { data?: Record<string, { id: string }>; errors?: unknown[] } };
}

/** The value of one sample in Prometheus text output, e.g. `metric{a="b"}`; undefined when it is absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('request ids, metrics and health', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { STARTER_CREDITS: '2' } });
  });
  afterAll(() => server.close());

  it("stores the response's x-request-id on the ledger row the request wrote", async () => {
    const res = await graphql(server, 'user_obs_alice', { query: CONSUME, variables: { input: { amount: 1, feature: 'obs', idempotencyKey: 'rid-1' } } });
    const requestId = res.headers.get('x-request-id');
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const { rows } = await server.sql.query('select metadata from credit_transactions where id = $1', [res.json.data!.consumeCredits!.id]);
    expect(rows[0].metadata.requestId).toBe(requestId);
  });

  it("keeps a caller's well-formed x-request-id and replaces a malformed one", async () => {
    const kept = await graphql(server, 'user_obs_alice', { query: CONSUME, variables: { input: { amount: 1, feature: 'obs', idempotencyKey: 'rid-2' } } }, {
      'x-request-id': 'lb-trace.42',
    });
    expect(kept.headers.get('x-request-id')).toBe('lb-trace.42');
    const { rows } = await server.sql.query('select metadata from credit_transactions where id = $1', [kept.json.data!.consumeCredits!.id]);
    expect(rows[0].metadata.requestId).toBe('lb-trace.42');

    const replaced = await send(`${server.url}/healthz`, { headers: { 'x-request-id': 'bad id\twith spaces' } });
    expect(replaced.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('gives every response a request id, including 404s and the webhook', async () => {
    for (const [path, method] of [['/nowhere', 'GET'], ['/webhooks/stripe', 'POST'], ['/readyz', 'GET']] as const) {
      const res = await send(`${server.url}${path}`, { method });
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('exposes Prometheus metrics: latency by operation, ledger outcomes, pool usage and process metrics', async () => {
    // user_obs_bob starts with 2 credits: one spend succeeds, the next asks for more than is left.
    await graphql(server, 'user_obs_bob', { query: CONSUME, variables: { input: { amount: 2, feature: 'obs', idempotencyKey: 'm-1' } } });
    const refused = await graphql(server, 'user_obs_bob', { query: CONSUME, variables: { input: { amount: 5, feature: 'obs', idempotencyKey: 'm-2' } } });
    expect(refused.json.errors).toHaveLength(1);
    await graphql(server, 'user_obs_bob', { query: 'query Balance { creditBalance }' });

    const res = await send(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = res.text;
    // Spend so far in this file: three that wrote a row (two for alice, one for bob) and the refused one.
    expect(sample(text, 'tally_graphql_request_duration_seconds_count{operation_name="Spend",operation_type="mutation",result="ok"}')).toBe(3);
    expect(sample(text, 'tally_graphql_request_duration_seconds_count{operation_name="Spend",operation_type="mutation",result="error"}')).toBe(1);
    expect(sample(text, 'tally_graphql_request_duration_seconds_count{operation_name="Balance",operation_type="query",result="ok"}')).toBe(1);
    expect(sample(text, 'tally_ledger_operations_total{operation="consume",outcome="ok"}')).toBe(3);
    expect(sample(text, 'tally_ledger_operations_total{operation="consume",outcome="INSUFFICIENT_CREDITS"}')).toBe(1);
    expect(sample(text, 'tally_db_pool_connections{state="idle"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'tally_db_pool_connections{state="active"}')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'tally_db_pool_waiting_requests')).toBe(0);
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toContain('# TYPE tally_webhook_events_total counter');
  });

  it('caps the operation names it keeps as labels, and gives none to requests without a token', async () => {
    const labels = async () => {
      const text = (await send(`${server.url}/metrics`)).text;
      return new Set([...text.matchAll(/tally_graphql_request_duration_seconds_count\{operation_name="([^"]+)"/g)].map((m) => m[1]));
    };
    // Strangers naming operations at will take no label slot: they all count as `unauthenticated`.
    for (let i = 0; i < 120; i++) {
      await send(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: `query Stranger${i} { creditPacks { id } }` }),
      });
    }
    const afterStrangers = await labels();
    expect([...afterStrangers].some((name) => name?.startsWith('Stranger'))).toBe(false);
    expect(afterStrangers.has('unauthenticated')).toBe(true);
    const token = await tokenFor('user_label_filler');
    for (let i = 0; i < 120; i++) {
      await send(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: `query Probe${i} { creditPacks { id } }` }),
      });
    }
    const names = await labels();
    expect(names.size).toBeLessThanOrEqual(103);
    expect(names.has('other')).toBe(true);
    expect(names.has('Spend')).toBe(true);
  });

  it('answers /healthz and /readyz with 200 while the database answers', async () => {
    const healthz = await send(`${server.url}/healthz`);
    expect([healthz.status, JSON.parse(healthz.text)]).toEqual([200, { status: 'ok' }]);
    const readyz = await send(`${server.url}/readyz`);
    expect([readyz.status, JSON.parse(readyz.text)]).toEqual([200, { status: 'ready' }]);
    expect(readyz.headers.get('cache-control')).toBe('no-store');
  });
});

describe('health when the database hangs or is gone', () => {
  let proxy: TcpProxy;
  let server: TestServer;
  beforeAll(async () => {
    const databaseUrl = await createTestDatabase();
    const direct = new URL(databaseUrl);
    proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port) });
    server = await startTestServer({ databaseUrl: proxy.urlFor(databaseUrl) });
  });
  afterAll(async () => {
    proxy.resume();
    await server.close();
    await proxy.close();
  });

  it('answers 503 from both probes, rather than hanging, while the database does not answer; 200 again after', async () => {
    expect((await send(`${server.url}/readyz`)).status).toBe(200);
    proxy.hang();
    const [healthz, readyz] = await Promise.all([send(`${server.url}/healthz`), send(`${server.url}/readyz`)]);
    expect([healthz.status, JSON.parse(healthz.text)]).toEqual([503, { status: 'unavailable', reason: 'database unreachable' }]);
    expect(readyz.status).toBe(503);
    proxy.resume();
    expect((await send(`${server.url}/healthz`)).status).toBe(200);
  });

  it('answers 503 when the database refuses connections', async () => {
    await proxy.close();
    const readyz = await send(`${server.url}/readyz`);
    expect(readyz.status).toBe(503);
  });
});

describe('METRICS_TOKEN', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { METRICS_TOKEN: 'metrics-token-0123456789' } });
  });
  afterAll(() => server.close());

  it('keeps /metrics behind the bearer token when one is configured', async () => {
    expect((await send(`${server.url}/metrics`)).status).toBe(401);
    expect((await send(`${server.url}/metrics`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    const allowed = await send(`${server.url}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789' } });
    expect(allowed.status).toBe(200);
    expect(allowed.text).toContain('tally_graphql_request_duration_seconds');
  });

  it('refuses a token too short to be a secret at start-up', () => {
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow('Invalid METRICS_TOKEN: must be at least 16 characters');
  });
});
