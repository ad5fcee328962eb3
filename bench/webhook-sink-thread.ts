import { parentPort } from 'node:worker_threads';
import { startWebhookReceiver } from '../test/support/webhook-receiver.js';

/**
 * The webhook receiver's own thread: verifying signatures over TLS is real work, and on the benchmark's event loop it
 * would slow the load generator beside it (at one connection, every delivery would sit between two requests).
 * Messages in: `{ secrets }` starts counting afresh with those secrets, `{ count: true }` asks for the counts.
 */
export type SinkRequest = { secrets: string[] } | { count: true };
export interface SinkCounts {
  received: number;
  unverified: number;
  distinct: number;
}

const receiver = await startWebhookReceiver({ tls: true });
const port = parentPort!;
port.on('message', (message: SinkRequest | 'close') => {
  if (message === 'close') {
    void receiver.close().then(() => port.close());
  } else if ('secrets' in message) {
    receiver.secrets = message.secrets;
    receiver.received.length = 0;
    port.postMessage({ ready: true });
  } else {
    const counts: SinkCounts = {
      received: receiver.received.length,
      unverified: receiver.received.filter((hook) => hook.verifiedBy.length === 0).length,
      distinct: new Set(receiver.received.map((hook) => hook.id)).size,
    };
    port.postMessage(counts);
  }
});
port.postMessage({ url: receiver.url });
