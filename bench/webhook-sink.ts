import { startWebhookReceiver, type WebhookReceiver } from '../test/support/webhook-receiver.js';
import { onCleanup } from './cleanup.js';
import type { Measurement } from './measurement.js';

/**
 * The consumer end of the webhook scenario: a receiver on 127.0.0.1 over HTTPS (the test fixture's certificate, which
 * the API trusts through NODE_EXTRA_CA_CERTS) that verifies every signature with the `standardwebhooks` package,
 * as a customer's endpoint would. The endpoint subscribed to `credits.consumed` exists only while a webhook run
 * lasts, so the other scenarios run without one.
 */
export interface WebhookSink {
  /** The endpoint-creating, delivery-counting wrapper around one run of consumptions. */
  around(run: () => Promise<Measurement>): Promise<Measurement>;
}

const DRAIN_TIMEOUT_MS = 60_000;

async function graphql<T>(apiUrl: string, token: string, query: string, variables: Record<string, unknown>): Promise<T> {
  const response = await fetch(`${apiUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: { message: string }[] };
  if (!body.data || body.errors) throw new Error(`webhook set-up failed: ${JSON.stringify(body.errors ?? body)}`);
  return body.data;
}

export async function startWebhookSink(apiUrl: string, adminToken: string): Promise<WebhookSink> {
  const receiver: WebhookReceiver = await startWebhookReceiver({ tls: true });
  onCleanup('webhook receiver', () => receiver.close());
  return {
    async around(run) {
      const { createWebhookEndpoint: endpoint } = await graphql<{ createWebhookEndpoint: { id: string; secret: string } }>(
        apiUrl,
        adminToken,
        'mutation Create($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { id secret } }',
        { input: { url: `${receiver.url}/tally`, eventTypes: ['credits.consumed'], description: 'benchmark receiver' } },
      );
      receiver.secrets = [endpoint.secret];
      receiver.received.length = 0;
      try {
        const measurement = await run();
        const during = receiver.received.length;
        const started = Date.now();
        while (receiver.received.length < measurement.ok && Date.now() - started < DRAIN_TIMEOUT_MS) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const received = receiver.received.length;
        const unverified = receiver.received.filter((hook) => hook.verifiedBy.length === 0).length;
        const ids = new Set(receiver.received.map((hook) => hook.id)).size;
        const after = ((Date.now() - started) / 1000).toFixed(1);
        // The count can include a few events of the run before (fanned out once this endpoint existed).
        const notes = [
          `webhooks: ${during} received during the run (${measurement.ok} consumptions); ` +
            (received >= measurement.ok ? `${received} by ${after}s after it` : `${measurement.ok - received} short ${after}s after it`) +
            `; ${ids} distinct ids, ${unverified} failed verification`,
        ];
        return { ...measurement, notes: [...(measurement.notes ?? []), ...notes] };
      } finally {
        await graphql(apiUrl, adminToken, 'mutation Delete($id: ID!) { deleteWebhookEndpoint(id: $id) }', { id: endpoint.id });
      }
    },
  };
}
