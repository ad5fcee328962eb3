import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { bearer, connectLive, watchBalance } from '../support/live.js';
import { waitUntil } from '../support/processes.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { uniqueSub } from '../support/subjects.js';
import { tokenFor } from '../support/tokens.js';

const BALANCE = 'subscription { creditBalanceChanged { creditBalance } }';

/** A raw graphql-ws socket: what a hostile or careless client sends, message by message. */
function rawSocket(server: TestServer) {
  const socket = new WebSocket(server.url.replace('http', 'ws') + '/graphql', 'graphql-transport-ws');
  const messages: Record<string, unknown>[] = [];
  const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
  socket.on('message', (data) => messages.push(JSON.parse(String(data)) as Record<string, unknown>));
  const opened = new Promise<void>((resolve, reject) => {
    socket.on('open', () => resolve());
    socket.on('error', reject);
  });
  const send = (message: unknown) => socket.send(JSON.stringify(message));
  return { socket, messages, closed, opened, send };
}

/** A raw socket signed in as `sub`, once the server has acknowledged it. */
async function signedInSocket(server: TestServer, sub: string) {
  const raw = rawSocket(server);
  await raw.opened;
  raw.send({ type: 'connection_init', payload: { authorization: `Bearer ${await tokenFor(sub)}` } });
  await waitUntil(async () => raw.messages.some((m) => m.type === 'connection_ack'), { timeoutMs: 5_000, what: 'connection_ack' });
  return raw;
}

/**
 * What keeps one user (or one address) from wearing out an instance over WebSocket: the per-user socket slots come
 * back however a socket ends, a socket holds a bounded number of subscriptions and each subscribe counts against the
 * user's query allowance, a socket ends with its token, and failed sign-ins count against the address.
 */
describe('live server guards', () => {
  let server: TestServer;
  const clients: Client[] = [];
  const env = {
    LIVE_MAX_CONNECTIONS_PER_USER: '2',
    LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION: '3',
    RATE_LIMIT_QUERIES_PER_MINUTE: '60',
    RATE_LIMIT_QUERY_BURST: '12',
    RATE_LIMIT_ANONYMOUS_PER_MINUTE: '60',
    RATE_LIMIT_ANONYMOUS_BURST: '5',
  };

  beforeAll(async () => {
    server = await startTestServer({ env });
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    await server?.close();
  });

  function connect(authorization: () => Promise<string | undefined>) {
    const connection = connectLive(server.url, authorization);
    clients.push(connection.client);
    return connection;
  }

  it('gives a socket slot back when the socket closes while its token is being checked', async () => {
    const sub = uniqueSub('live_flaky');
    const token = await tokenFor(sub);
    // Each socket closes right after connection_init, before the server has answered it; the last sends it twice.
    for (let i = 0; i < 6; i++) {
      const raw = rawSocket(server);
      await raw.opened;
      raw.send({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
      if (i === 5) raw.send({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
      else raw.socket.terminate();
      await raw.closed;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    const first = connect(bearer(sub));
    const second = connect(bearer(sub));
    const w1 = watchBalance(first.client);
    const w2 = watchBalance(second.client);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(first.closes).toEqual([]);
    expect(second.closes).toEqual([]);
    expect(JSON.stringify([...w1.results, ...w2.results])).not.toContain('error');
    w1.stop();
    w2.stop();
  });

  it('holds at most LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION subscriptions on a socket; one more is refused and the socket stays', async () => {
    const sub = uniqueSub('live_subs');
    const raw = await signedInSocket(server, sub);
    for (let i = 1; i <= 5; i++) raw.send({ id: `s${i}`, type: 'subscribe', payload: { query: BALANCE } });
    await waitUntil(async () => raw.messages.filter((m) => m.type === 'error').length >= 2, { timeoutMs: 5_000, what: 'refusals' });
    const refused = raw.messages.filter((m) => m.type === 'error');
    expect(refused.map((m) => m.id)).toEqual(['s4', 's5']);
    expect(JSON.stringify(refused[0])).toContain('RATE_LIMITED');
    expect(JSON.stringify(refused[0])).toContain('At most 3 subscriptions per connection');

    // Completing one frees its place.
    raw.send({ id: 's1', type: 'complete' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    raw.send({ id: 's6', type: 'subscribe', payload: { query: BALANCE } });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(raw.messages.filter((m) => m.id === 's6' && m.type === 'error')).toEqual([]);
    expect(raw.socket.readyState).toBe(WebSocket.OPEN);
    raw.socket.close();
    await raw.closed;
  });

  it("counts every subscribe against the user's query allowance", async () => {
    const sub = uniqueSub('live_churn');
    const raw = await signedInSocket(server, sub);
    // Subscribe and complete in turn: never more than one open, but the burst of 12 runs out (one comes back a second).
    for (let i = 1; i <= 20; i++) {
      raw.send({ id: `c${i}`, type: 'subscribe', payload: { query: BALANCE } });
      await new Promise((resolve) => setTimeout(resolve, 30));
      raw.send({ id: `c${i}`, type: 'complete' });
    }
    await waitUntil(async () => raw.messages.some((m) => m.type === 'error'), { timeoutMs: 5_000, what: 'a refusal' });
    const refusal = raw.messages.find((m) => m.type === 'error')!;
    expect(JSON.stringify(refusal)).toContain('RATE_LIMITED');
    expect(Number(String(refusal.id).slice(1))).toBeGreaterThanOrEqual(13);
    raw.socket.close();
    await raw.closed;
  });

  it('closes a socket with 4403 when the token it was opened with stops being accepted (exp, plus 5 s of clock tolerance)', async () => {
    const sub = uniqueSub('live_expiring');
    const token = await tokenFor(sub, {}, { expiresIn: Math.floor(Date.now() / 1000) + 1 });
    const connection = connect(async () => `Bearer ${token}`);
    const watching = watchBalance(connection.client);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(connection.closes).toEqual([]);
    await waitUntil(async () => connection.closes.length > 0, { timeoutMs: 10_000, what: 'the close at expiry' });
    expect(connection.closes[0]).toBe(4403);
    watching.stop();
  });

  it('counts failed sign-ins against the address, as HTTP does for requests without a valid token', async () => {
    const codes: number[] = [];
    for (let i = 0; i < 8; i++) {
      const raw = rawSocket(server);
      await raw.opened;
      raw.send({ type: 'connection_init', payload: { authorization: 'Bearer not-a-token' } });
      codes.push(await raw.closed);
    }
    // A burst of 5: those are told their token is bad, the rest that the address is over its limit.
    expect(codes.slice(0, 5)).toEqual([4403, 4403, 4403, 4403, 4403]);
    expect(codes.slice(5)).toEqual([4429, 4429, 4429]);
  });
});
