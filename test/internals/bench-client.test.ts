import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHistogram } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parseResponse, runKeepAlive } from '../../bench/keepalive-client.js';
import { mergeRounds, Outcomes } from '../../bench/measurement.js';

/**
 * The benchmark's own load generator and the merging of runs made in rounds: the figures the README's Performance
 * section quotes depend on them, so they are checked like the code they measure.
 */
describe('the benchmark keep-alive client', () => {
  it('parses a response by Content-Length, and waits for the rest of a partial one', () => {
    const full = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"data":{}}HTTP/1.1');
    expect(parseResponse(full)).toEqual({ status: 200, body: '{"data":{}}', length: full.length - 'HTTP/1.1'.length, close: false });
    expect(parseResponse(full.subarray(0, 60))).toBeUndefined();
    expect(parseResponse(Buffer.from('HTTP/1.1 200 OK\r\nContent-Len'))).toBeUndefined();
  });

  it('parses a chunked response and sees Connection: close', () => {
    const chunked = Buffer.from('HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
    expect(parseResponse(chunked)).toEqual({ status: 503, body: 'hello world', length: chunked.length, close: true });
    expect(parseResponse(chunked.subarray(0, chunked.length - 2))).toBeUndefined();
  });

  it('refuses what is not an HTTP/1.x response, or has no length', () => {
    expect(() => parseResponse(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n'))).toThrow(/not an HTTP/);
    expect(() => parseResponse(Buffer.from('HTTP/1.1 200 OK\r\n\r\nbody'))).toThrow(/neither Content-Length nor chunked/);
  });

  describe('against a real HTTP server', () => {
    let server: Server;
    let url: string;
    let served = 0;
    const bodies: { authorization?: string; body: string }[] = [];
    beforeAll(async () => {
      server = createServer((request, response) => {
        let body = '';
        request.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
        request.on('end', () => {
          served++;
          bodies.push({ authorization: request.headers.authorization, body });
          // Every third answer is chunked, every fifth closes its connection: the client must carry on through both.
          if (served % 5 === 0) response.setHeader('connection', 'close');
          if (served % 3 === 0) {
            response.write('{"errors":[{"extensions":');
            response.end('{"code":"INSUFFICIENT_CREDITS"}}]}');
          } else {
            response.setHeader('content-type', 'application/json');
            response.end(JSON.stringify({ data: { échoed: body.length } }));
          }
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('keeps every connection busy, sends each request whole, and counts every answer', async () => {
      let n = 0;
      const statuses: number[] = [];
      let refusals = 0;
      const result = await runKeepAlive({
        url,
        path: '/graphql',
        connections: 4,
        seconds: 1,
        timeoutSeconds: 5,
        next: () => ({ token: `t${n}`, body: JSON.stringify({ query: 'mutation', n: n++, note: 'crédit' }) }),
        onAnswer(status, body, micros) {
          statuses.push(status);
          if (body.includes('INSUFFICIENT_CREDITS')) refusals++;
          expect(micros).toBeGreaterThan(0);
        },
        shouldStop: () => false,
      });
      expect(result.errors).toBe(0);
      expect(statuses.length).toBe(n);
      expect(statuses.length).toBe(served);
      expect(statuses.length).toBeGreaterThan(20);
      expect(refusals).toBe(Math.floor(served / 3));
      expect(result.duration).toBeGreaterThanOrEqual(1);
      // Bodies arrive whole (multi-byte characters included) with their own token.
      for (const { authorization, body } of bodies) {
        const parsed = JSON.parse(body) as { n: number; note: string };
        expect(authorization).toBe(`Bearer t${parsed.n}`);
        expect(parsed.note).toBe('crédit');
      }
    });

    it('counts a request that never gets an answer as an error', async () => {
      const silent = createServer(() => undefined);
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      try {
        const result = await runKeepAlive({
          url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
          path: '/graphql',
          connections: 2,
          seconds: 1,
          timeoutSeconds: 0.3,
          next: () => ({ body: '{}' }),
          onAnswer: () => {
            throw new Error('no answer expected');
          },
          shouldStop: () => false,
        });
        expect(result.errors).toBeGreaterThanOrEqual(2);
      } finally {
        silent.closeAllConnections();
        await new Promise<void>((resolve) => silent.close(() => resolve()));
      }
    });
  });
});

describe('runs made in rounds', () => {
  const part = (ok: number, seconds: number, latencies: number[], note?: string) => {
    const outcomes = new Outcomes();
    outcomes.ok = ok;
    outcomes.error('HTTP 500', 1);
    const histogram = createHistogram();
    for (const micros of latencies) histogram.record(micros);
    const measurement = outcomes.measurement('consume-spread', 16, seconds, histogram);
    if (note) measurement.notes = [note];
    return measurement;
  };

  it('add up answers and seconds, and take percentiles over every latency recorded', () => {
    const merged = mergeRounds([part(99, 2, Array(99).fill(1000)), part(99, 2, Array(99).fill(3000))]);
    expect(merged).toMatchObject({ ok: 198, errors: 2, errorsByKind: { 'HTTP 500': 2 }, seconds: 4, answered: 200, throughput: 50 });
    // Half the latencies were 1 ms and half 3 ms: the median is one of them, the 99th percentile the slower.
    expect([1, 3]).toContain(Math.round(merged.p50Ms));
    expect(Math.round(merged.p99Ms)).toBe(3);
  });

  it('keep one run as it is, and each round’s notes', () => {
    const single = part(10, 1, [500]);
    expect(mergeRounds([single])).toBe(single);
    const merged = mergeRounds([part(1, 1, [1000], 'a'), part(1, 1, [1000], 'b')]);
    expect(merged.notes).toEqual(['round 1/2: a', 'round 2/2: b']);
    expect(merged.p50Ms).toBe(1);
  });
});
