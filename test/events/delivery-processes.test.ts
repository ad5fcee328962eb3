import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { MikroORM } from '@mikro-orm/postgresql';
import type pg from 'pg';
import { createTestDatabase, sqlPool } from '../support/database.js';
import { stopAllProcesses, waitUntil } from '../support/processes.js';
import { spawnApi, type SpawnedApi } from '../support/spawned-api.js';
import { ADMIN_SUB } from '../support/subjects.js';
import { startWebhookReceiver, TLS_FIXTURE_DIR, type WebhookReceiver } from '../support/webhook-receiver.js';
import { appendEvents, deliveryRows, deliveryWithStatus, endpointFor, ownOrm, receivedCount } from '../support/webhooks.js';

/**
 * Delivery by the compiled server in production mode, over https to a receiver whose certificate the processes
 * trust (NODE_EXTRA_CA_CERTS): an event committed while no API runs, an attempt cut off by SIGKILL, and two API
 * processes sharing the work. Events are appended by this test's own appendEvent (internal by design).
 */
const ACCOUNT = 'usr_webhookprocesses';
const TIMEOUT_MS = 3_000;

describe('webhook delivery by API processes', () => {
  let databaseUrl: string;
  let sql: pg.Pool;
  let orm: MikroORM;
  let receiver: WebhookReceiver;
  let endpointId: string;
  let api: SpawnedApi | undefined;

  const start = () =>
    spawnApi({
      databaseUrl,
      env: {
        ADMIN_USER_IDS: ADMIN_SUB,
        NODE_EXTRA_CA_CERTS: path.join(TLS_FIXTURE_DIR, 'cert.pem'),
        WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
        WEBHOOK_WORKER_INTERVAL_MS: '100',
        WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
        WEBHOOK_RETRY_BASE_MS: '50',
        // Two attempts at a time per process, so that neither process can take all of the endpoint's share.
        WEBHOOK_CONCURRENCY: '2',
        WEBHOOK_ENDPOINT_CONCURRENCY: '8',
        LOG_LEVEL: 'debug',
      },
    });
  const append = (count: number, type: 'credits.consumed' | 'credits.granted' = 'credits.consumed', first = 0) =>
    appendEvents(
      orm,
      Array.from({ length: count }, (_, i) => ({ accountId: ACCOUNT, type, payload: { i: first + i } })),
    );

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    sql = sqlPool(databaseUrl);
    orm = await ownOrm(databaseUrl);
    await sql.query(`insert into accounts (id, kind) values ($1, 'personal')`, [ACCOUNT]);
    receiver = await startWebhookReceiver({ tls: true });
    api = await start();
    ({ id: endpointId } = await endpointFor(api, ADMIN_SUB, receiver, ['*']));
    await api.stop();
    api = undefined;
  }, 120_000);

  afterAll(async () => {
    await stopAllProcesses();
    await orm?.close();
    await sql?.end();
    await receiver?.close();
  });

  it('delivers an event committed while no API was running, once one starts', async () => {
    const [event] = await append(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.received).toEqual([]);
    api = await start();
    await deliveryWithStatus(sql, endpointId, event!.id, 'delivered');
    expect(receiver.received.map((request) => [request.id, request.verifiedBy])).toEqual([[event!.id, [0]]]);
  }, 120_000);

  it('sends an attempt cut off by SIGKILL again once its lease has run out, and delivers it once', async () => {
    const [event] = await append(1, 'credits.granted');
    let cutOff = false;
    receiver.reply = (request) => {
      if (request.id !== event!.id || cutOff) return { status: 204 };
      cutOff = true;
      return { hang: true };
    };
    await receivedCount(receiver, 1, (id) => id === event!.id);
    await api!.kill();
    const [leased] = await deliveryRows(sql, { eventId: event!.id });
    expect(leased).toMatchObject({ status: 'sending', attempts: 1 });

    api = await start();
    const delivered = await deliveryWithStatus(sql, endpointId, event!.id, 'delivered', 30_000);
    expect(delivered).toMatchObject({ attempts: 2, last_response_status: 204 });
    const requests = receiver.received.filter((request) => request.id === event!.id);
    expect(requests).toHaveLength(2);
    expect(requests.every((request) => request.verifiedBy.length === 1)).toBe(true);
    expect(receiver.maxConcurrentSameId).toBe(1);
  }, 120_000);

  it('shares the work between two processes, never sending one attempt twice at once', async () => {
    const second = await start();
    // The first request of every fourth event fails (by its payload's index), so some attempts are retries.
    const failsFirst = (body: string) => (JSON.parse(body) as { data: { i: number } }).data.i % 4 === 0;
    const seen = new Set<string>();
    receiver.reply = (request) => {
      const first = !seen.has(request.id);
      seen.add(request.id);
      return { status: first && failsFirst(request.body) ? 500 : 200, delayMs: 20 + Math.floor(Math.random() * 40) };
    };
    const events = [];
    for (let batch = 0; batch < 8; batch++) events.push(...(await append(10, 'credits.consumed', batch * 10)));
    const failOnce = new Set(events.filter((_, i) => i % 4 === 0).map((event) => event.id));
    const ids = new Set(events.map((event) => event.id));
    await waitUntil(
      async () => {
        const { rows } = await sql.query(`select count(*)::int as n from webhook_deliveries where status = 'delivered' and event_id = any($1)`, [[...ids]]);
        return rows[0].n === ids.size;
      },
      { timeoutMs: 60_000, what: 'every event delivered' },
    );

    const requests = receiver.received.filter((request) => ids.has(request.id));
    const perEvent = new Map<string, number>();
    for (const request of requests) perEvent.set(request.id, (perEvent.get(request.id) ?? 0) + 1);
    for (const event of events) expect([event.id, perEvent.get(event.id)]).toEqual([event.id, failOnce.has(event.id) ? 2 : 1]);
    expect(requests.every((request) => request.verifiedBy.length === 1)).toBe(true);
    expect(receiver.maxConcurrentSameId).toBe(1);
    const rows = await deliveryRows(sql, { endpointId });
    for (const row of rows.filter((found) => ids.has(found.event_id))) expect(row.attempts).toBe(failOnce.has(row.event_id) ? 2 : 1);

    // Both processes sent some of them (each logs what it delivered at debug level). A process logs a delivery once
    // its outcome is recorded, with the recorded status, so the last lines may still be on their way.
    const deliveredBy = (process: SpawnedApi) =>
      process.process
        .stdout()
        .split('\n')
        .filter((line) => line.includes('"msg":"webhook delivered"') && [...ids].some((id) => line.includes(id))).length;
    await waitUntil(async () => deliveredBy(api!) + deliveredBy(second) >= ids.size, { timeoutMs: 10_000, what: 'every delivery logged' }).catch(
      () => undefined,
    );
    const [firstShare, secondShare] = [deliveredBy(api!), deliveredBy(second)];
    expect(firstShare).toBeGreaterThan(0);
    expect(secondShare).toBeGreaterThan(0);
    expect(firstShare + secondShare).toBe(ids.size);
  }, 120_000);
});
