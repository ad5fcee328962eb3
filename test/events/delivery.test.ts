import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { appendEvent } from '../../src/events/outbox.js';
import {
  CreateWebhookEndpointDocument,
  DeleteWebhookEndpointDocument,
  MeDocument,
  RedeliverWebhookEventDocument,
  RotateWebhookEndpointSecretDocument,
  UpdateWebhookEndpointDocument,
  WebhookDeliveriesDocument,
  WebhookEndpointsDocument,
  WebhookEventTypesDocument,
} from '../generated/graphql.js';
import { waitUntil } from '../support/processes.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';
import { appendEvents, deliveryRows, deliveryWithStatus, endpointFor, receivedCount } from '../support/webhooks.js';

/**
 * Webhooks from the outbox to a real receiver, through the real server's workers and PostgreSQL. Events are
 * appended with appendEvent in a transaction, as the code that changes balances does (internal by design: the
 * test calls that function itself).
 */
const RETRY_BASE_MS = 5;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('webhook delivery', () => {
  let server: TestServer;
  const receivers: WebhookReceiver[] = [];
  let accountId: string;

  beforeAll(async () => {
    server = await startTestServer({
      env: {
        ADMIN_USER_IDS: ADMIN_SUB,
        WEBHOOK_WORKER_INTERVAL_MS: '50',
        WEBHOOK_RETRY_BASE_MS: String(RETRY_BASE_MS),
        WEBHOOK_TIMEOUT_MS: '3000',
        WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
      },
    });
    accountId = await userIdOf(server, uniqueSub('events'));
  });
  afterAll(async () => {
    await server.close();
    await Promise.all(receivers.map((receiver) => receiver.close()));
  });

  const receiver = async () => {
    const started = await startWebhookReceiver();
    receivers.push(started);
    return started;
  };
  type AppendType = Parameters<typeof appendEvents>[1][number]['type'];
  const append = async (type: AppendType, data: Record<string, unknown> = {}) => (await appendEvents(server.orm, [{ accountId, type, payload: data }]))[0]!;

  it('delivers an event committed with its change, signed so that the standardwebhooks verifier accepts it', async () => {
    const hooks = await receiver();
    const endpoint = await endpointFor(server, ADMIN_SUB, hooks, ['credits.consumed']);
    expect(endpoint.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const payload = { transaction: { id: 'ctx_example', type: 'CONSUMPTION', amount: -3 }, balanceAfter: 7 };
    const event = await append('credits.consumed', payload);
    // A rolled-back transaction leaves no event behind.
    await expect(
      server.orm.em.fork().transactional(async (tx) => {
        await appendEvent(tx, { accountId, type: 'credits.consumed', payload: { rolledBack: true } });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');

    await deliveryWithStatus(server.sql, endpoint.id, event.id, 'delivered');
    await pause(300);
    expect(hooks.received).toHaveLength(1);
    const [request] = hooks.received;
    expect(request!.verifiedBy).toEqual([0]);
    expect(request!.id).toBe(event.id);
    expect(request!.path).toBe('/hooks');
    expect(request!.headers['content-type']).toBe('application/json');
    expect(Math.abs(Number(request!.timestamp) - Date.now() / 1000)).toBeLessThan(30);
    expect(request!.signature).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    const body = JSON.parse(request!.body);
    expect(body).toEqual({ id: event.id, type: 'credits.consumed', accountId, sequence: Number(event.seq), createdAt: expect.any(String), data: payload });
    expect(new Date(body.createdAt).toISOString()).toBe(body.createdAt);

    const page = await server.as(ADMIN_SUB).execute(WebhookDeliveriesDocument, { endpointId: endpoint.id, first: 10 });
    expect(page.errors).toBeUndefined();
    expect(page.data!.webhookDeliveries.edges.map((edge) => edge.node)).toEqual([
      expect.objectContaining({
        status: 'DELIVERED',
        attemptCount: 1,
        lastResponseCode: 204,
        nextAttemptAt: null,
        deliveredAt: expect.any(String),
        redelivery: false,
        event: { id: event.id, type: 'credits.consumed', sequence: Number(event.seq), accountId, createdAt: body.createdAt, data: payload },
      }),
    ]);
    const listed = await server.as(ADMIN_SUB).execute(WebhookEndpointsDocument);
    expect(listed.data!.webhookEndpoints).toEqual([expect.objectContaining({ id: endpoint.id, eventTypes: ['credits.consumed'], enabled: true })]);
    expect(JSON.stringify(listed.data)).not.toContain('whsec_');
    const types = await server.as(ADMIN_SUB).execute(WebhookEventTypesDocument);
    expect(types.data!.webhookEventTypes).toEqual(expect.arrayContaining(['credits.consumed', 'balance.low', 'plan.changed']));
  });

  it("numbers each account's events 1, 2, 3... in commit order", async () => {
    const other = await userIdOf(server, uniqueSub('numbered'));
    const events = await appendEvents(server.orm, [
      { accountId: other, type: 'credits.granted', payload: {} },
      { accountId: other, type: 'credits.consumed', payload: {} },
    ]);
    const [third] = await appendEvents(server.orm, [{ accountId: other, type: 'credits.consumed', payload: {} }]);
    expect([...events, third].map((event) => event!.seq)).toEqual(['1', '2', '3']);
    await expect(appendEvents(server.orm, [{ accountId: 'usr_nobodyatall', type: 'credits.granted', payload: {} }])).rejects.toThrow(/does not exist/);
  });

  it('delivers only the types an endpoint subscribed to ("*": all); a disabled endpoint gets none', async () => {
    await waitUntil(async () => (await server.sql.query('select 1 from events where dispatched_at is null')).rowCount === 0, {
      timeoutMs: 5_000,
      what: "earlier tests' events to be dispatched",
    });
    const [grants, all, disabled] = [await receiver(), await receiver(), await receiver()];
    const grantsOnly = await endpointFor(server, ADMIN_SUB, grants, ['credits.granted', 'purchase.completed']);
    await endpointFor(server, ADMIN_SUB, all, ['*']);
    const off = await endpointFor(server, ADMIN_SUB, disabled, ['*']);
    const updated = await server.as(ADMIN_SUB).execute(UpdateWebhookEndpointDocument, { input: { id: off.id, enabled: false } });
    expect(updated.data?.updateWebhookEndpoint.enabled).toBe(false);

    const consumed = await append('credits.consumed');
    const granted = await append('credits.granted');
    await receivedCount(all, 2, (id) => id === consumed.id || id === granted.id);
    await deliveryWithStatus(server.sql, grantsOnly.id, granted.id, 'delivered');
    await pause(300);
    const ours = (receiver: WebhookReceiver) => receiver.received.map((request) => request.id).filter((id) => id === consumed.id || id === granted.id);
    expect(ours(grants)).toEqual([granted.id]);
    expect(ours(all).sort()).toEqual([consumed.id, granted.id].sort());
    expect(disabled.received).toEqual([]);
    expect(await deliveryRows(server.sql, { endpointId: off.id })).toEqual([]);
  });

  it('retries a failing endpoint on the schedule: 500 three times, then 200, is one delivery of four attempts', async () => {
    const hooks = await receiver();
    hooks.reply = (_request, index) => (index < 3 ? { status: 500, body: 'try later' } : { status: 200, body: 'ok' });
    const endpoint = await endpointFor(server, ADMIN_SUB, hooks, ['balance.low']);
    const event = await append('balance.low', { balance: 2, threshold: 5 });

    const row = await deliveryWithStatus(server.sql, endpoint.id, event.id, 'delivered');
    expect(row).toMatchObject({ attempts: 4, last_response_status: 200, last_response_body: 'ok', last_error: null });
    expect(hooks.received.map((request) => request.id)).toEqual([event.id, event.id, event.id, event.id]);
    expect(hooks.received.every((request) => request.verifiedBy.length === 1)).toBe(true);
    // The gaps follow 1, 60 and 360 times the base, less at most 10% of jitter.
    const gaps = hooks.received.slice(1).map((request, i) => request.receivedAt - hooks.received[i]!.receivedAt);
    [1, 60, 360].forEach((step, i) => expect(gaps[i]).toBeGreaterThanOrEqual(step * RETRY_BASE_MS * 0.9 - 5));
    expect(await deliveryRows(server.sql, { endpointId: endpoint.id })).toHaveLength(1);
  });

  it("waits as long as an endpoint's Retry-After asks on a 429 or 503 (never less than the schedule), and ignores it on other statuses", async () => {
    const limited = await receiver();
    limited.reply = () => ({ status: 429, body: 'slow down', headers: { 'retry-after': '3600' } });
    const unavailable = await receiver();
    const inTwoHours = new Date(Date.now() + 2 * 3_600_000).toUTCString();
    unavailable.reply = () => ({ status: 503, body: 'maintenance', headers: { 'retry-after': inTwoHours } });
    const failing = await receiver();
    failing.reply = () => ({ status: 500, body: 'broken', headers: { 'retry-after': '3600' } });
    const hurried = await receiver();
    hurried.reply = (_request, index) => (index === 0 ? { status: 503, headers: { 'retry-after': '0' } } : { status: 200 });
    const endpoints = await Promise.all([limited, unavailable, failing, hurried].map((hooks) => endpointFor(server, ADMIN_SUB, hooks, ['credits.refunded'])));
    const before = Date.now();
    const event = await append('credits.refunded');

    const retried = async (endpointId: string) =>
      waitUntil(async () => (await deliveryRows(server.sql, { endpointId, eventId: event.id })).find((row) => row.attempts === 1 && row.status === 'pending'), {
        timeoutMs: 10_000,
        what: `the first attempt to ${endpointId} recorded`,
      });
    const [rateLimited, down] = await Promise.all(endpoints.slice(0, 2).map((endpoint) => retried(endpoint.id)));
    const dueIn = (row: { next_attempt_at: Date | null }) => row.next_attempt_at!.getTime() - before;
    expect(rateLimited).toMatchObject({ last_response_status: 429, last_response_body: 'slow down' });
    expect(dueIn(rateLimited)).toBeGreaterThanOrEqual(3_600_000 - 1_000);
    expect(dueIn(rateLimited)).toBeLessThan(3_600_000 + 60_000);
    expect(dueIn(down)).toBeGreaterThanOrEqual(2 * 3_600_000 - 60_000);
    expect(dueIn(down)).toBeLessThan(2 * 3_600_000 + 60_000);
    // A 500 is a failure like any other: its Retry-After is not a request to wait, and the schedule's retries follow.
    await waitUntil(async () => failing.received.length >= 3, { timeoutMs: 10_000, what: 'the failing endpoint retried on the schedule' });
    // Retry-After cannot hurry a retry past the schedule, nor add attempts: `0` is the schedule's delay, then delivered.
    const delivered = await deliveryWithStatus(server.sql, endpoints[3]!.id, event.id, 'delivered');
    expect(delivered.attempts).toBe(2);
    // The waiting deliveries stay unsent while they wait.
    expect(limited.received).toHaveLength(1);
    expect(unavailable.received).toHaveLength(1);
  });

  it('records a burst of outcomes, successes and failures mixed, each once and on its own delivery', async () => {
    const hooks = await receiver();
    // Every third event fails its first attempt, so retries and deliveries settle in the same batches.
    const failedOnce = new Set<string>();
    hooks.reply = (request) => {
      const index = Number(JSON.parse(request.body).data.index);
      if (index % 3 === 0 && !failedOnce.has(request.id)) {
        failedOnce.add(request.id);
        return { status: 503, body: 'busy', delayMs: 2 };
      }
      return { status: 200, delayMs: 2 };
    };
    const endpoint = await endpointFor(server, ADMIN_SUB, hooks, ['credits.granted']);
    const events = await appendEvents(
      server.orm,
      Array.from({ length: 120 }, (_, index) => ({ accountId, type: 'credits.granted' as const, payload: { index } })),
    );

    await waitUntil(async () => (await deliveryRows(server.sql, { endpointId: endpoint.id })).filter((row) => row.status === 'delivered').length === events.length, {
      timeoutMs: 30_000,
      what: 'every delivery of the burst delivered',
      intervalMs: 50,
    });
    const rows = await deliveryRows(server.sql, { endpointId: endpoint.id });
    expect(rows).toHaveLength(events.length);
    const attempts = new Map(rows.map((row) => [row.event_id, row.attempts]));
    events.forEach((event, index) => expect(attempts.get(event.id)).toBe(index % 3 === 0 ? 2 : 1));
    expect(rows.every((row) => row.last_response_status === 200 && row.last_error === null)).toBe(true);
    // Every event arrived once successfully; the failed first tries are the only repeats.
    expect(hooks.received).toHaveLength(events.length + Math.ceil(events.length / 3));
    expect(new Set(hooks.received.map((request) => request.id)).size).toBe(events.length);
  });

  it('follows no redirect and keeps at most 4 KiB of a response body', async () => {
    const target = await receiver();
    const redirecting = await receiver();
    redirecting.reply = () => ({ status: 307, headers: { location: `${target.url}/elsewhere` } });
    const verbose = await receiver();
    verbose.reply = () => ({ status: 500, body: `${'é'.repeat(1_000)}${'x'.repeat(100_000)}` });
    const moved = await endpointFor(server, ADMIN_SUB, redirecting, ['credits.expired']);
    const chatty = await endpointFor(server, ADMIN_SUB, verbose, ['credits.expired']);
    const event = await append('credits.expired');

    const redirected = await waitUntil(
      async () => (await deliveryRows(server.sql, { endpointId: moved.id })).find((row) => row.attempts >= 1 && row.last_error !== null),
      { timeoutMs: 10_000, what: 'the redirected attempt' },
    );
    expect(redirected).toMatchObject({ event_id: event.id, last_response_status: 307 });
    expect(['pending', 'sending']).toContain(redirected.status);
    expect(redirected.last_error).toMatch(/redirect/);
    const long = await waitUntil(
      async () => (await deliveryRows(server.sql, { endpointId: chatty.id })).find((row) => row.last_response_status === 500),
      { timeoutMs: 10_000, what: 'the verbose attempt' },
    );
    expect(Buffer.byteLength(long.last_response_body!)).toBeLessThanOrEqual(4096);
    expect(long.last_response_body!.startsWith('é'.repeat(1_000))).toBe(true);
    expect(target.received).toEqual([]);

    // Deleting an endpoint ends its unfinished deliveries.
    for (const id of [moved.id, chatty.id]) {
      const deleted = await server.as(ADMIN_SUB).execute(DeleteWebhookEndpointDocument, { id });
      expect(deleted.data?.deleteWebhookEndpoint).toBe(true);
      expect(await deliveryRows(server.sql, { endpointId: id })).toEqual([expect.objectContaining({ status: 'failed', last_error: 'endpoint deleted' })]);
    }
    await pause(200);
    const afterDelete = redirecting.received.length;
    await pause(500);
    expect(redirecting.received.length).toBe(afterDelete);
    const again = await server.as(ADMIN_SUB).execute(RedeliverWebhookEventDocument, { endpointId: moved.id, eventId: event.id });
    expect(again.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const history = await server.as(ADMIN_SUB).execute(WebhookDeliveriesDocument, { endpointId: moved.id, first: 5 });
    expect(history.data!.webhookDeliveries.edges.map((edge) => edge.node.status)).toEqual(['FAILED']);
  });

  it('keeps sending to other endpoints and answering requests while one endpoint hangs', async () => {
    const stuck = await receiver();
    stuck.reply = () => ({ hang: true });
    const healthy = await receiver();
    const stuckEndpoint = await endpointFor(server, ADMIN_SUB, stuck, ['auto_recharge.failed']);
    const fine = await endpointFor(server, ADMIN_SUB, healthy, ['auto_recharge.failed']);
    const events = [];
    for (let i = 0; i < 6; i++) events.push(await append('auto_recharge.failed', { i }));
    await receivedCount(stuck, 1);
    const me = await server.as(uniqueSub('busy')).execute(MeDocument);
    expect(me.errors).toBeUndefined();
    for (const event of events) await deliveryWithStatus(server.sql, fine.id, event.id, 'delivered', 5_000);
    // Meanwhile no attempt to the stuck endpoint has ended (each waits out WEBHOOK_TIMEOUT_MS), and it holds at
    // most its share of attempts at once (WEBHOOK_ENDPOINT_CONCURRENCY, 4 by default).
    const stuckRows = await deliveryRows(server.sql, { endpointId: stuckEndpoint.id });
    const started = stuckRows.filter((row) => row.attempts > 0);
    expect(started.length).toBeGreaterThanOrEqual(1);
    expect(started.length).toBeLessThanOrEqual(4);
    expect(started.every((row) => row.status === 'sending' && row.last_error === null)).toBe(true);
    expect(stuck.received.length).toBeLessThanOrEqual(started.length);
    const timedOut = await waitUntil(
      async () => (await deliveryRows(server.sql, { endpointId: stuckEndpoint.id })).find((row) => row.last_error !== null),
      { timeoutMs: 10_000, what: 'an attempt to time out' },
    );
    // (It may be under way again by now: retries start 5 ms later here.)
    expect(timedOut).toMatchObject({ last_error: 'timed out after 3000 ms', last_response_status: null });
  });

  it('signs with the old and the new secret during a rotation', async () => {
    const hooks = await receiver();
    const endpoint = await endpointFor(server, ADMIN_SUB, hooks, ['subscription.updated']);
    const rotated = await server.as(ADMIN_SUB).execute(RotateWebhookEndpointSecretDocument, { id: endpoint.id });
    expect(rotated.errors).toBeUndefined();
    const { secret, previousSecretExpiresAt } = rotated.data!.rotateWebhookEndpointSecret;
    expect(secret).not.toBe(endpoint.secret);
    const graceHours = (new Date(previousSecretExpiresAt!).getTime() - Date.now()) / 3_600_000;
    expect(graceHours).toBeGreaterThan(23.9);
    expect(graceHours).toBeLessThanOrEqual(24);
    hooks.secrets.push(secret);

    const event = await append('subscription.updated');
    await receivedCount(hooks, 1, (id) => id === event.id);
    const [request] = hooks.received;
    expect(request!.verifiedBy).toEqual([0, 1]);
    expect(request!.signature.split(' ')).toHaveLength(2);
  });

  it('redelivers an event on request, with the same webhook-id and a delivery of its own', async () => {
    const hooks = await receiver();
    const endpoint = await endpointFor(server, ADMIN_SUB, hooks, ['plan.changed']);
    const event = await append('plan.changed', { planTier: 'pro' });
    await deliveryWithStatus(server.sql, endpoint.id, event.id, 'delivered');

    const again = await server.as(ADMIN_SUB).execute(RedeliverWebhookEventDocument, { endpointId: endpoint.id, eventId: event.id });
    expect(again.errors).toBeUndefined();
    expect(again.data!.redeliverWebhookEvent).toMatchObject({ redelivery: true, event: { id: event.id } });
    await receivedCount(hooks, 2, (id) => id === event.id);
    const rows = await waitUntil(
      async () => {
        const found = await deliveryRows(server.sql, { endpointId: endpoint.id, eventId: event.id });
        return found.every((row) => row.status === 'delivered') ? found : undefined;
      },
      { timeoutMs: 10_000, what: 'the redelivery' },
    );
    expect(rows.map((row) => [row.redelivery, row.attempts])).toEqual([
      [false, 1],
      [true, 1],
    ]);
    expect(hooks.received.every((request) => request.verifiedBy.length === 1)).toBe(true);

    const page = await server.as(ADMIN_SUB).execute(WebhookDeliveriesDocument, { endpointId: endpoint.id, first: 1 });
    expect(page.data!.webhookDeliveries.edges[0]!.node.redelivery).toBe(true);
    const next = await server.as(ADMIN_SUB).execute(WebhookDeliveriesDocument, {
      endpointId: endpoint.id,
      first: 1,
      after: page.data!.webhookDeliveries.pageInfo.endCursor,
    });
    expect(next.data!.webhookDeliveries.edges.map((edge) => edge.node.redelivery)).toEqual([false]);
    expect(next.data!.webhookDeliveries.pageInfo.hasNextPage).toBe(false);
  });

  it('keeps a redelivery to a disabled endpoint waiting, once however often it is asked for, until it is enabled', async () => {
    const hooks = await receiver();
    const endpoint = await endpointFor(server, ADMIN_SUB, hooks, ['reservation.released']);
    const paused = await server.as(ADMIN_SUB).execute(UpdateWebhookEndpointDocument, { input: { id: endpoint.id, enabled: false } });
    expect(paused.errors).toBeUndefined();
    const event = await append('credits.refunded', { amount: -5 });

    const asked = [];
    for (let i = 0; i < 3; i++) asked.push(await server.as(ADMIN_SUB).execute(RedeliverWebhookEventDocument, { endpointId: endpoint.id, eventId: event.id }));
    expect(new Set(asked.map((res) => res.data!.redeliverWebhookEvent.id)).size).toBe(1);
    expect(asked[0]!.data!.redeliverWebhookEvent).toMatchObject({ status: 'PENDING', attemptCount: 0, redelivery: true, event: { type: 'credits.refunded' } });
    await pause(300);
    expect(hooks.received).toEqual([]);

    const resumed = await server.as(ADMIN_SUB).execute(UpdateWebhookEndpointDocument, { input: { id: endpoint.id, enabled: true } });
    expect(resumed.data!.updateWebhookEndpoint.enabled).toBe(true);
    await receivedCount(hooks, 1, (id) => id === event.id);
    const delivered = await waitUntil(
      async () => {
        const rows = await deliveryRows(server.sql, { endpointId: endpoint.id });
        return rows.every((row) => row.status === 'delivered') ? rows : undefined;
      },
      { timeoutMs: 10_000, what: 'the redelivery to be delivered' },
    );
    expect(delivered.map((row) => [row.event_id, row.status, row.redelivery, row.attempts])).toEqual([[event.id, 'delivered', true, 1]]);
  });

  it('updates what is given and leaves the rest', async () => {
    const hooks = await receiver();
    const created = await server.as(ADMIN_SUB).execute(CreateWebhookEndpointDocument, {
      input: { url: `${hooks.url}/a`, eventTypes: ['credits.granted'], description: 'first' },
    });
    const { id } = created.data!.createWebhookEndpoint;
    const moved = await server.as(ADMIN_SUB).execute(UpdateWebhookEndpointDocument, { input: { id, url: `${hooks.url}/b`, eventTypes: ['balance.depleted', 'balance.depleted'] } });
    expect(moved.data!.updateWebhookEndpoint).toMatchObject({ url: `${hooks.url}/b`, eventTypes: ['balance.depleted'], description: 'first', enabled: true });
    const cleared = await server.as(ADMIN_SUB).execute(UpdateWebhookEndpointDocument, { input: { id, description: '' } });
    expect(cleared.data!.updateWebhookEndpoint).toMatchObject({ url: `${hooks.url}/b`, eventTypes: ['balance.depleted'], description: null });
    const bad = await server.as(ADMIN_SUB).execute(UpdateWebhookEndpointDocument, { input: { id, eventTypes: ['balance.empty'] } });
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.eventTypes' });
    const gone = await server.as(ADMIN_SUB).execute(UpdateWebhookEndpointDocument, { input: { id: 'we_nosuchendpoint', enabled: true } });
    expect(gone.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    await server.as(ADMIN_SUB).execute(DeleteWebhookEndpointDocument, { id });
  });

  it('refuses bad endpoint input, naming the field', async () => {
    const create = (input: { url: string; eventTypes: string[]; description?: string }) => server.as(ADMIN_SUB).execute(CreateWebhookEndpointDocument, { input });
    const cases: [Parameters<typeof create>[0], string, RegExp][] = [
      [{ url: 'ftp://example.com/hooks', eventTypes: ['*'] }, 'input.url', /http/],
      [{ url: 'not a url', eventTypes: ['*'] }, 'input.url', /URL/],
      [{ url: `https://example.com/${'a'.repeat(2_100)}`, eventTypes: ['*'] }, 'input.url', /2048/],
      [{ url: 'https://user:pass@example.com/hooks', eventTypes: ['*'] }, 'input.url', /credentials/],
      [{ url: 'https://example.com/hooks', eventTypes: [] }, 'input.eventTypes', /at least one/],
      [{ url: 'https://example.com/hooks', eventTypes: ['credits.consumed', 'credits.stolen'] }, 'input.eventTypes', /credits\.stolen/],
      [{ url: 'https://example.com/hooks', eventTypes: ['*'], description: 'x'.repeat(501) }, 'input.description', /500/],
    ];
    for (const [input, field, message] of cases) {
      const res = await create(input);
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(res.errors?.[0]?.message).toMatch(message);
    }
    const unknown = await server.as(ADMIN_SUB).execute(RotateWebhookEndpointSecretDocument, { id: 'we_doesnotexist0000' });
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('is for admins only', async () => {
    const someone = uniqueSub('notadmin');
    const attempts = [
      server.as(someone).execute(CreateWebhookEndpointDocument, { input: { url: 'https://example.com/h', eventTypes: ['*'] } }),
      server.as(someone).execute(WebhookDeliveriesDocument, { endpointId: 'we_abc', first: 5 }),
      server.as(someone).execute(RotateWebhookEndpointSecretDocument, { id: 'we_abc' }),
      server.as(someone).execute(RedeliverWebhookEventDocument, { endpointId: 'we_abc', eventId: 'evt_abc' }),
      server.as(someone).execute(DeleteWebhookEndpointDocument, { id: 'we_abc' }),
      server.as(someone).execute(UpdateWebhookEndpointDocument, { input: { id: 'we_abc', enabled: false } }),
      server.as(someone).execute(WebhookEndpointsDocument),
      server.as(someone).execute(WebhookEventTypesDocument),
    ];
    for (const res of await Promise.all(attempts)) expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const anonymous = await server.as().execute(WebhookEndpointsDocument);
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('keeps at most 50 endpoints', async () => {
    const create = () =>
      server.as(ADMIN_SUB).execute(CreateWebhookEndpointDocument, { input: { url: 'https://hooks.example.com/tally', eventTypes: ['reservation.created'] } });
    const listed = await server.as(ADMIN_SUB).execute(WebhookEndpointsDocument);
    for (let count = listed.data!.webhookEndpoints.length; count < 50; count++) expect((await create()).errors).toBeUndefined();
    const refused = await create();
    expect(refused.errors?.[0]?.extensions).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 50 });
    const all = (await server.as(ADMIN_SUB).execute(WebhookEndpointsDocument)).data!.webhookEndpoints;
    expect(all).toHaveLength(50);
    await server.as(ADMIN_SUB).execute(DeleteWebhookEndpointDocument, { id: all.at(-1)!.id });
    expect((await create()).errors).toBeUndefined();
  });
});
