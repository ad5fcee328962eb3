import net from 'node:net';
import { performance } from 'node:perf_hooks';

/** One request as the scenario builds it: the body, and the bearer token when there is one. */
export interface KeepAliveRequest {
  token?: string;
  body: string;
}

export interface KeepAliveOptions {
  /** The API's base URL (http://host:port); requests go to `path` on it. */
  url: string;
  path: string;
  connections: number;
  seconds: number;
  /** A request that gets no complete answer within this many seconds counts as an error; its connection is replaced. */
  timeoutSeconds: number;
  next(): KeepAliveRequest;
  /** Each complete answer: its status, its body, and the time from the request's first byte written to its last byte read. */
  onAnswer(status: number, body: string, micros: number): void;
  shouldStop(): boolean;
}

export interface KeepAliveResult {
  /** Seconds from the first request to the last answer. */
  duration: number;
  /** Requests that got no answer: connection errors, resets and timeouts. */
  errors: number;
}

const HEADER_END = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

/** A complete response at the start of `data`: its status, body and length in bytes; undefined while more is needed. */
export function parseResponse(data: Buffer): { status: number; body: string; length: number; close: boolean } | undefined {
  const headerEnd = data.indexOf(HEADER_END);
  if (headerEnd < 0) return undefined;
  const head = data.toString('latin1', 0, headerEnd);
  const status = Number(head.slice(9, 12));
  if (!/^HTTP\/1\.[01] $/.test(head.slice(0, 9)) || !Number.isInteger(status)) throw new Error(`not an HTTP/1.1 response: ${JSON.stringify(head.slice(0, 40))}`);
  const close = /\r\nconnection:[ \t]*close/i.test(head);
  const start = headerEnd + HEADER_END.length;
  const contentLength = /\r\ncontent-length:[ \t]*(\d+)/i.exec(head);
  if (contentLength) {
    const end = start + Number(contentLength[1]);
    if (data.length < end) return undefined;
    return { status, body: data.toString('utf8', start, end), length: end, close };
  }
  if (!/\r\ntransfer-encoding:[ \t]*chunked/i.test(head)) {
    // Neither a length nor chunks: a body without one ends with the connection, which a keep-alive load must not use.
    throw new Error(`response ${status} has neither Content-Length nor chunked encoding`);
  }
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const lineEnd = data.indexOf(CRLF, at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(data.toString('latin1', at, lineEnd), 16);
    if (!Number.isInteger(size) || size < 0) throw new Error('malformed chunk size');
    const chunkStart = lineEnd + CRLF.length;
    if (size === 0) {
      // No trailers are expected: the last chunk is followed by the empty line.
      if (data.length < chunkStart + CRLF.length) return undefined;
      return { status, body: Buffer.concat(parts).toString('utf8'), length: chunkStart + CRLF.length, close };
    }
    if (data.length < chunkStart + size + CRLF.length) return undefined;
    parts.push(data.subarray(chunkStart, chunkStart + size));
    at = chunkStart + size + CRLF.length;
  }
}

/**
 * A closed-loop HTTP/1.1 load generator as lean as pgbench is on its side: `connections` keep-alive sockets, each
 * writing its next request (one write, Nagle off) as soon as the last answer is read in full, and timing it from that
 * write to the last byte read. It parses only what it needs (status line, Content-Length or chunks, Connection:
 * close), so that the CPU it takes from the machine the API and PostgreSQL share stays small. A connection that
 * fails or times out is counted and replaced; nothing new is sent after `seconds`, and the answers in flight then
 * are waited for.
 */
export function runKeepAlive(options: KeepAliveOptions): Promise<KeepAliveResult> {
  const target = new URL(options.url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const port = Number(target.port || 80);
  const hostHeader = target.host;
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  let errors = 0;
  let lastAnswer = started;

  const requestText = ({ token, body }: KeepAliveRequest) =>
    `POST ${options.path} HTTP/1.1\r\nHost: ${hostHeader}\r\nContent-Type: application/json\r\n` +
    (token ? `Authorization: Bearer ${token}\r\n` : '') +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

  const connection = () =>
    new Promise<void>((resolve) => {
      const open = () => {
        if (performance.now() >= deadline || options.shouldStop()) {
          resolve();
          return;
        }
        let pending: Buffer | undefined;
        let sentAt = 0;
        let inFlight = false;
        let done = false;
        const socket = net.connect({ host, port, noDelay: true });
        socket.setTimeout(options.timeoutSeconds * 1000);
        const send = () => {
          if (performance.now() >= deadline || options.shouldStop()) {
            done = true;
            socket.end();
            resolve();
            return;
          }
          const text = requestText(options.next());
          inFlight = true;
          sentAt = performance.now();
          socket.write(text);
        };
        const fail = () => {
          if (done) return;
          done = true;
          if (inFlight) errors++;
          socket.destroy();
          open();
        };
        socket.once('connect', send);
        socket.on('data', (chunk: Buffer) => {
          pending = pending ? Buffer.concat([pending, chunk]) : chunk;
          let response: ReturnType<typeof parseResponse>;
          try {
            response = parseResponse(pending);
          } catch {
            fail();
            return;
          }
          if (!response) return;
          const now = performance.now();
          lastAnswer = now;
          inFlight = false;
          options.onAnswer(response.status, response.body, Math.max(1, Math.round((now - sentAt) * 1000)));
          pending = response.length < pending.length ? pending.subarray(response.length) : undefined;
          if (response.close) {
            done = true;
            socket.destroy();
            open();
          } else {
            send();
          }
        });
        socket.on('timeout', fail);
        socket.on('error', fail);
        socket.on('close', fail);
      };
      open();
    });

  return Promise.all(Array.from({ length: options.connections }, connection)).then(() => ({
    duration: (Math.max(lastAnswer, Math.min(performance.now(), deadline)) - started) / 1000,
    errors,
  }));
}
