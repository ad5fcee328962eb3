import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Stripe from 'stripe';
import { startTestServer, type TestServer } from '../support/server.js';
import { codesOf } from '../support/errors.js';
import { send } from '../support/http.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
const PACKS_QUERY = '{ creditPacks { id } }';

describe('HTTP guards on /graphql and the webhook', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { STRIPE_SECRET_KEY: 'sk_test_hardening', STRIPE_WEBHOOK_SECRET: 'whsec_hardening' } });
  });
  afterAll(() => server.close());

  it('refuses batched requests (a JSON array of operations)', async () => {
    const res = await server.as().raw([{ query: PACKS_QUERY }, { query: PACKS_QUERY }]);
    expect(res.status).toBe(400);
    expect(res.errors?.[0]?.message).toMatch(/batching/i);
    expect(res.data).toBeUndefined();
  });

  it('refuses a GET without the apollo-require-preflight header (CSRF), and answers it with the header', async () => {
    const url = `${server.url}/graphql?query=${encodeURIComponent(PACKS_QUERY)}`;
    const bare = await send(url);
    expect(bare.status).toBe(400);
    expect(bare.text).toMatch(/CSRF/);
    expect(bare.text).not.toContain('"creditPacks"');

    const preflighted = await send(url, { headers: { 'apollo-require-preflight': 'true' } });
    expect(preflighted.status).toBe(200);
    expect(JSON.parse(preflighted.text)).toEqual({ data: { creditPacks: expect.any(Array) } });
  });

  it('refuses a simple-content-type POST (text/plain, what a cross-site form can send)', async () => {
    const res = await send(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ query: PACKS_QUERY }),
    });
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/CSRF/);
  });

  it('refuses a mutation sent as GET even with the preflight header', async () => {
    const url = `${server.url}/graphql?query=${encodeURIComponent('mutation { completeOnboarding { id } }')}`;
    const res = await send(url, { headers: { 'apollo-require-preflight': 'true' } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });

  it('answers a /graphql body over 64 KiB with 413 as a GraphQL error', async () => {
    const body = JSON.stringify({ query: PACKS_QUERY, variables: { padding: 'x'.repeat(65 * 1024) } });
    const res = await send(`${server.url}/graphql`, { method: 'POST', headers: JSON_HEADERS, body });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text)).toEqual({ errors: [{ message: 'Request body too large', extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
  });

  it('accepts a /graphql body just under 64 KiB', async () => {
    const res = await server.as().raw({ query: PACKS_QUERY, variables: { padding: 'x'.repeat(60 * 1024) } });
    expect(res.status).toBe(200);
    expect(res.data).toEqual({ creditPacks: expect.any(Array) });
  });

  it('answers malformed JSON with 400 and a short GraphQL error, no stack trace', async () => {
    const res = await send(`${server.url}/graphql`, { method: 'POST', headers: JSON_HEADERS, body: '{"query": "{ creditPacks { id } }"' });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toEqual({ errors: [{ message: 'Malformed JSON body', extensions: { code: 'BAD_REQUEST' } }] });
    expect(res.text).not.toMatch(/at \w|node_modules|SyntaxError/);
  });

  it('answers a webhook body over 256 KiB with 413, before the signature is even looked at', async () => {
    const res = await send(`${server.url}/webhooks/stripe`, {
      method: 'POST',
      headers: { ...JSON_HEADERS, 'stripe-signature': 't=1,v1=00' },
      body: JSON.stringify({ id: 'evt_big', padding: 'x'.repeat(257 * 1024) }),
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.text)).toEqual({ error: 'Request body too large' });
  });

  it('reads a webhook body under 256 KiB and checks its signature (a bad one is 400)', async () => {
    const res = await send(`${server.url}/webhooks/stripe`, {
      method: 'POST',
      headers: { ...JSON_HEADERS, 'stripe-signature': 't=1,v1=00' },
      body: JSON.stringify({ id: 'evt_big', padding: 'x'.repeat(200 * 1024) }),
    });
    expect(res.status).toBe(400);
  });

  it('counts webhook deliveries in /metrics by event type and outcome', async () => {
    const payload = JSON.stringify({ id: 'evt_hardening_1', object: 'event', type: 'customer.created', data: { object: { id: 'cus_1', object: 'customer' } } });
    const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_hardening' });
    const delivered = await send(`${server.url}/webhooks/stripe`, { method: 'POST', headers: { ...JSON_HEADERS, 'stripe-signature': signature }, body: payload });
    expect(delivered.status).toBe(200);

    const metrics = (await send(`${server.url}/metrics`)).text;
    // The bad signature from the test above, and this signed event.
    expect(metrics).toMatch(/^tally_webhook_events_total\{type="unverified",outcome="invalid-signature"\} 1$/m);
    expect(metrics).toMatch(/^tally_webhook_events_total\{type="customer\.created",outcome="[\w.:-]+"\} 1$/m);
  });

  it('answers unknown paths with a JSON 404', async () => {
    const res = await send(`${server.url}/admin`);
    expect(res.status).toBe(404);
    expect(JSON.parse(res.text)).toEqual({ error: 'not found' });
  });

  it('still serves a plain JSON POST (the guards do not get in the way of real clients)', async () => {
    const res = await server.as('user_guards').raw({ query: '{ creditBalance }' });
    expect(codesOf(res)).toEqual([]);
    expect(res.data).toEqual({ creditBalance: 0 });
  });
});
