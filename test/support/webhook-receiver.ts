import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { REPO_ROOT } from './processes.js';

/**
 * A real webhook receiver on 127.0.0.1, as a customer would write one: it reads the raw body and verifies it with
 * the `standardwebhooks` package against the secrets it was given. It records every request (verified or not),
 * and notices the same webhook-id arriving while a request of that id is still being answered.
 */
export interface ReceivedWebhook {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  headers: Record<string, string>;
  /** Which of the receiver's secrets verified it (by position), empty when none did. */
  verifiedBy: number[];
  path: string;
  receivedAt: number;
}

/** How to answer one request: a status (and body), after a delay; `hang` never answers. */
export interface Reply {
  status?: number;
  body?: string | Buffer;
  headers?: Record<string, string>;
  delayMs?: number;
  hang?: boolean;
}

export interface WebhookReceiver {
  url: string;
  received: ReceivedWebhook[];
  /** Secrets to verify with (set after the endpoint is created, or rotated). */
  secrets: string[];
  /** Answers requests (index counts every request); 204 by default. */
  reply: (request: ReceivedWebhook, index: number) => Reply;
  /** Most requests of one webhook-id answered at the same time, seen so far. */
  maxConcurrentSameId: number;
  close(): Promise<void>;
}

export const TLS_FIXTURE_DIR = path.join(REPO_ROOT, 'test/fixtures/webhook-tls');

const verifiers = (secrets: string[], body: string, headers: Record<string, string>) =>
  secrets.flatMap((secret, index) => {
    try {
      new Webhook(secret).verify(body, headers);
      return [index];
    } catch {
      return [];
    }
  });

export async function startWebhookReceiver(options: { tls?: boolean } = {}): Promise<WebhookReceiver> {
  const inFlight = new Map<string, number>();
  const hanging = new Set<ServerResponse>();
  const receiver: WebhookReceiver = {
    url: '',
    received: [],
    secrets: [],
    reply: () => ({ status: 204 }),
    maxConcurrentSameId: 0,
    close: async () => undefined,
  };
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, String(value)]));
      const record: ReceivedWebhook = {
        id: headers['webhook-id'] ?? '',
        timestamp: headers['webhook-timestamp'] ?? '',
        signature: headers['webhook-signature'] ?? '',
        body,
        headers,
        verifiedBy: verifiers(receiver.secrets, body, headers),
        path: request.url ?? '',
        receivedAt: Date.now(),
      };
      const index = receiver.received.push(record) - 1;
      const concurrent = (inFlight.get(record.id) ?? 0) + 1;
      inFlight.set(record.id, concurrent);
      receiver.maxConcurrentSameId = Math.max(receiver.maxConcurrentSameId, concurrent);
      const done = () => inFlight.set(record.id, (inFlight.get(record.id) ?? 1) - 1);
      const reply = receiver.reply(record, index);
      if (reply.hang) {
        hanging.add(response);
        response.on('close', done);
        return;
      }
      setTimeout(() => {
        done();
        response.writeHead(reply.status ?? 204, reply.headers ?? {});
        response.end(reply.body);
      }, reply.delayMs ?? 0);
    });
  };
  const server = options.tls
    ? https.createServer({ key: readFileSync(path.join(TLS_FIXTURE_DIR, 'key.pem')), cert: readFileSync(path.join(TLS_FIXTURE_DIR, 'cert.pem')) }, handle)
    : http.createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  receiver.url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  receiver.close = async () => {
    for (const response of hanging) response.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return receiver;
}
