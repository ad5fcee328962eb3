import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { resolveTarget, specialUseReason, type HostResolver } from '../../src/events/network-guard.js';
import { endpointUrl } from '../../src/events/webhook-validation.js';
import { CreateWebhookEndpointDocument, WebhookDeliveriesDocument } from '../generated/graphql.js';
import { waitUntil } from '../support/processes.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';
import { appendEvents, deliveryRows, endpointFor } from '../support/webhooks.js';

/**
 * The address guard of webhook requests (SSRF): the checks themselves (internal by design: they call the guard
 * with a resolver of their own), and the server refusing to send to a name that resolves to loopback.
 */
const resolverOf =
  (names: Record<string, string[]>): HostResolver =>
  async (hostname) => {
    const addresses = names[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

describe('the address guard', () => {
  it('refuses loopback, private, link-local and other special-use addresses, IPv4 inside IPv6 included', () => {
    const refused = [
      '127.0.0.1',
      '127.8.9.10',
      '10.0.0.1',
      '10.255.255.255',
      '172.16.0.1',
      '172.31.255.254',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '192.0.2.10',
      '198.18.0.1',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      'fe80::1',
      'fe80::1%eth0',
      'fc00::1',
      'fd12:3456:789a::1',
      'ff02::1',
      '2001:db8::1',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:10.0.0.1',
      '::ffff:a9fe:a9fe',
      '::127.0.0.1',
      '64:ff9b::a00:1',
      '2002:7f00:1::1',
    ];
    for (const address of refused) expect([address, specialUseReason(address)]).toEqual([address, expect.any(String)]);
    expect(specialUseReason('127.0.0.1')).toBe('loopback address');
    expect(specialUseReason('::ffff:7f00:1')).toBe('IPv4 loopback address inside an IPv6 address');
    expect(specialUseReason('169.254.169.254')).toBe('link-local address');

    const allowed = ['8.8.8.8', '1.1.1.1', '93.184.216.34', '172.32.0.1', '11.0.0.1', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '::ffff:8.8.8.8'];
    for (const address of allowed) expect([address, specialUseReason(address)]).toEqual([address, undefined]);
  });

  it('checks every address a name resolves to, and connects to a checked one', async () => {
    const resolver = resolverOf({
      'public.example': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
      'mixed.example': ['93.184.216.34', '10.0.0.7'],
      'rebound.example': ['::ffff:127.0.0.1'],
    });
    const guarded = { allowPrivateNetworks: false, resolver };
    await expect(resolveTarget('public.example', guarded)).resolves.toEqual({ address: '93.184.216.34', family: 4 });
    await expect(resolveTarget('mixed.example', guarded)).rejects.toThrow('refused: mixed.example resolves to 10.0.0.7 (private address)');
    await expect(resolveTarget('rebound.example', guarded)).rejects.toThrow(/IPv4 loopback address inside an IPv6 address/);
    await expect(resolveTarget('[::1]', guarded)).rejects.toThrow(/loopback/);
    await expect(resolveTarget('169.254.169.254', guarded)).rejects.toThrow(/link-local/);
    await expect(resolveTarget('missing.example', guarded)).rejects.toThrow('could not resolve missing.example');
    await expect(resolveTarget('mixed.example', { allowPrivateNetworks: true, resolver })).resolves.toEqual({ address: '93.184.216.34', family: 4 });
    await expect(resolveTarget('[::1]', { allowPrivateNetworks: true, resolver })).resolves.toEqual({ address: '::1', family: 6 });
  });

  it('takes only https endpoint URLs when https is required (production)', () => {
    const production = { requireHttps: true, allowPrivateNetworks: false };
    expect(endpointUrl('input.url', 'https://hooks.example.com/tally', production)).toBe('https://hooks.example.com/tally');
    expect(() => endpointUrl('input.url', 'http://hooks.example.com/tally', production)).toThrow('must be an https URL');
  });
});

describe('webhooks to private networks, with WEBHOOK_ALLOW_PRIVATE_NETWORKS off', () => {
  let server: TestServer;
  let receiver: WebhookReceiver;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    server = await startTestServer({
      env: { ADMIN_USER_IDS: ADMIN_SUB, WEBHOOK_WORKER_INTERVAL_MS: '50', WEBHOOK_RETRY_BASE_MS: '100000' },
      // A name that resolves to the receiver's loopback address, as a hostile DNS record would.
      resolver: resolverOf({ 'hooks.tally.test': ['127.0.0.1'] }),
    });
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  it('refuses endpoint URLs that name such an address or localhost', async () => {
    for (const url of [
      'http://127.0.0.1/hooks',
      'http://[::1]/hooks',
      'http://10.1.2.3/hooks',
      'http://169.254.169.254/latest/meta-data',
      'http://[::ffff:127.0.0.1]/hooks',
      'http://[fd00::1]/hooks',
      'http://localhost:8080/hooks',
      'http://api.localhost/hooks',
      'http://localhost./hooks',
      'http://api.localhost./hooks',
      'http://2130706433/hooks',
    ]) {
      const res = await server.as(ADMIN_SUB).execute(CreateWebhookEndpointDocument, { input: { url, eventTypes: ['*'] } });
      expect([url, res.errors?.[0]?.extensions]).toEqual([url, expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'input.url' })]);
    }
  });

  it('sends nothing to a name that resolves to loopback, and records why', async () => {
    const port = new URL(receiver.url).port;
    const endpoint = await endpointFor(server, ADMIN_SUB, { ...receiver, url: `http://hooks.tally.test:${port}` }, ['credits.granted']);
    const accountId = await userIdOf(server, uniqueSub('guarded'));
    const [event] = await appendEvents(server.orm, [{ accountId, type: 'credits.granted', payload: { amount: 5 } }]);
    const row = await waitUntil(async () => (await deliveryRows(server.sql, { endpointId: endpoint.id })).find((found) => found.last_error !== null), {
      timeoutMs: 10_000,
      what: 'the refused attempt',
    });
    expect(row).toMatchObject({ event_id: event!.id, status: 'pending', attempts: 1, last_response_status: null });
    expect(row.last_error).toBe('refused: hooks.tally.test resolves to 127.0.0.1 (loopback address)');
    expect(receiver.received).toEqual([]);
    const page = await server.as(ADMIN_SUB).execute(WebhookDeliveriesDocument, { endpointId: endpoint.id, first: 5 });
    expect(page.data!.webhookDeliveries.edges[0]!.node).toMatchObject({ status: 'PENDING', attemptCount: 1, lastError: row.last_error });
  });
});
