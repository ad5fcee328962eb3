import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { ipLiteral, RefusedAddressError, resolveTarget, type HostResolver, type ResolvedAddress } from './network-guard.js';
import { parseRetryAfter } from './retry-schedule.js';

/** What is kept of a response body: enough to see an error page's gist, never a whole download. */
export const MAX_RESPONSE_BODY_BYTES = 4 * 1024;

export interface SendOptions {
  timeoutMs: number;
  allowPrivateNetworks: boolean;
  requireHttps: boolean;
  resolver: HostResolver;
}

export interface SendOutcome {
  /** The endpoint answered 2xx in time. */
  ok: boolean;
  /** The HTTP status, when a response came. */
  status: number | null;
  /** The first MAX_RESPONSE_BODY_BYTES of the response body (as UTF-8). */
  body: string | null;
  /** Why the attempt failed, for the admin reading deliveries; null when it succeeded. */
  error: string | null;
  /** What the endpoint asked for with `Retry-After` on a 429 or 503, in ms (see retry-schedule.ts's nextDelayMs). */
  retryAfterMs?: number;
}

/**
 * What is kept of a body: its first MAX_RESPONSE_BODY_BYTES as UTF-8 (so at most that many characters), without
 * control characters other than tab and newlines (PostgreSQL text takes no NUL, and JSON would spell the rest out
 * six bytes each).
 */
// eslint-disable-next-line no-control-regex
const storedBody = (bytes: Buffer) => bytes.subarray(0, MAX_RESPONSE_BODY_BYTES).toString('utf8').replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, '');

/** A header's one value (Node gives a repeated one as an array: the first counts). */
const headerText = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

const failure = (error: string, status: number | null = null, body: string | null = null): SendOutcome => ({ ok: false, status, body, error });

/**
 * Connections are kept open between attempts (a TLS handshake per webhook would cost more CPU than everything else
 * an attempt does). A pooled connection was opened to an address that passed the network guard, so reusing it never
 * reaches an address the guard would refuse. Idle ones close after a few seconds.
 */
const agentOptions = { keepAlive: true, timeout: 5_000, maxFreeSockets: 64, scheduling: 'lifo' as const };
const agents = { 'http:': new http.Agent(agentOptions), 'https:': new https.Agent(agentOptions) };

/** Connects to the address that was checked, whatever the resolver would say now. */
const pinnedLookup =
  ({ address, family }: ResolvedAddress): LookupFunction =>
  (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };

/**
 * POSTs one webhook body. Nothing is followed: a redirect is a failed attempt. The whole attempt (resolving the
 * host, connecting, the response and its body) is bounded by `timeoutMs`; the body is read up to the cap, then the
 * connection is dropped. Never throws: every failure is an outcome.
 */
export async function postWebhook(target: string, body: string, headers: Record<string, string>, options: SendOptions): Promise<SendOutcome> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return failure('refused: not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return failure(`refused: ${url.protocol} is not http(s)`);
  if (options.requireHttps && url.protocol !== 'https:') return failure('refused: endpoints must use https');

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs);
  const timedOut = new Promise<SendOutcome>((resolve) =>
    controller.signal.addEventListener('abort', () => resolve(failure(`timed out after ${options.timeoutMs} ms`)), { once: true }),
  );
  try {
    return await Promise.race([timedOut, send(url, body, headers, options, controller.signal)]);
  } finally {
    // An attempt cut off by the timeout was aborted (its connection destroyed); one that finished keeps its
    // connection for the next attempt.
    clearTimeout(timer);
  }
}

async function send(url: URL, body: string, headers: Record<string, string>, options: SendOptions, signal: AbortSignal): Promise<SendOutcome> {
  let address: ResolvedAddress;
  try {
    address = await resolveTarget(url.hostname, options);
  } catch (error) {
    return failure(error instanceof RefusedAddressError ? error.reason : 'could not resolve the host');
  }
  if (signal.aborted) return failure('aborted');
  const client = url.protocol === 'https:' ? https : http;
  const hostname = ipLiteral(url.hostname) ?? url.hostname;
  return new Promise<SendOutcome>((resolve) => {
    const request = client.request(
      {
        method: 'POST',
        hostname,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'Tally-Webhooks/1',
        },
        agent: agents[url.protocol as 'http:' | 'https:'],
        lookup: pinnedLookup(address),
        signal,
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let finished = false;
        const finish = (whole: boolean) => {
          if (finished) return;
          finished = true;
          // A body read to its end leaves the connection reusable; one cut at the cap (or broken) closes it.
          if (!whole) response.destroy();
          const text = storedBody(Buffer.concat(chunks));
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve({ ok: true, status, body: text, error: null });
          else if (status >= 300 && status < 400) resolve(failure(`redirect (HTTP ${status}) not followed`, status, text));
          else {
            const retryAfterMs = status === 429 || status === 503 ? parseRetryAfter(headerText(response.headers['retry-after'])) : undefined;
            resolve({ ...failure(`HTTP ${status}`, status, text), ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
          }
        };
        response.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          size += chunk.length;
          if (size >= MAX_RESPONSE_BODY_BYTES) finish(false);
        });
        response.on('end', () => finish(true));
        response.on('error', () => finish(false));
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => resolve(failure(error.code ? `${error.code}: ${error.message}` : error.message)));
    request.end(body);
  });
}
