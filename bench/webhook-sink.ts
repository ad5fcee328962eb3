import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { onCleanup } from './cleanup.js';
import type { Measurement } from './measurement.js';
import type { SinkCounts, SinkRequest } from './webhook-sink-thread.js';

/**
 * The consumer end of the webhook scenario: a receiver on 127.0.0.1 over HTTPS (the test fixture's certificate, which
 * the API trusts through NODE_EXTRA_CA_CERTS) that verifies every signature with the `standardwebhooks` package,
 * as a customer's endpoint would, on its own thread (webhook-sink-thread.ts). The endpoint subscribed to `credits.consumed` exists only while a webhook run
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

/** The receiver thread, asked one question at a time. */
async function startReceiverThread() {
  const worker = new Worker(new URL('./webhook-sink-thread.js', import.meta.url));
  const [{ url }] = (await once(worker, 'message')) as [{ url: string }];
  const ask = async <T>(request: SinkRequest): Promise<T> => {
    const answer = once(worker, 'message');
    worker.postMessage(request);
    return ((await answer) as [T])[0];
  };
  return {
    url,
    reset: (secrets: string[]) => ask<unknown>({ secrets }),
    count: () => ask<SinkCounts>({ count: true }),
    close: async () => {
      worker.postMessage('close');
      await Promise.race([once(worker, 'exit'), new Promise((resolve) => setTimeout(resolve, 2_000))]);
      await worker.terminate();
    },
  };
}

export async function startWebhookSink(apiUrl: string, adminToken: string): Promise<WebhookSink> {
  const receiver = await startReceiverThread();
  onCleanup('webhook receiver', () => receiver.close());
  return {
    async around(run) {
      const { createWebhookEndpoint: endpoint } = await graphql<{ createWebhookEndpoint: { id: string; secret: string } }>(
        apiUrl,
        adminToken,
        'mutation Create($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { id secret } }',
        { input: { url: `${receiver.url}/tally`, eventTypes: ['credits.consumed'], description: 'benchmark receiver' } },
      );
      await receiver.reset([endpoint.secret]);
      try {
        const measurement = await run();
        const during = (await receiver.count()).received;
        const started = Date.now();
        let counts = await receiver.count();
        while (counts.received < measurement.ok && Date.now() - started < DRAIN_TIMEOUT_MS) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          counts = await receiver.count();
        }
        const { received, unverified, distinct: ids } = counts;
        const after = ((Date.now() - started) / 1000).toFixed(1);
        // The count can include a few events of the run before (fanned out once this endpoint existed).
        const notes = [
          `webhooks: ${during} received during the run (${measurement.ok} consumptions); ` +
            (received >= measurement.ok ? `${received} by ${after}s after it` : `${measurement.ok - received} short ${after}s after it`) +
            `; ${ids} distinct ids, ${unverified} failed verification`,
        ];
        // Added in place: the measurement's latencies are kept beside it (measurement.ts), for runs made in rounds.
        measurement.notes = [...(measurement.notes ?? []), ...notes];
        return measurement;
      } finally {
        await graphql(apiUrl, adminToken, 'mutation Delete($id: ID!) { deleteWebhookEndpoint(id: $id) }', { id: endpoint.id });
      }
    },
  };
}
