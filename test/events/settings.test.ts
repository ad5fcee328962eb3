import { describe, expect, it } from '@jest/globals';
import { ConfigError, loadConfig } from '../../src/config.js';
import { MAX_ATTEMPTS, MAX_RETRY_AFTER_MS, nextDelayMs, parseRetryAfter, retryDelayMs } from '../../src/events/retry-schedule.js';

/** The webhook settings and the retry schedule (internal by design: the schedule is called directly). */
describe('webhook settings', () => {
  it('default to a 1 s round, 10 s attempts, retries from 5 s, 16 attempts at once (4 per endpoint), public addresses only', () => {
    expect(loadConfig({}).webhooks).toEqual({
      workerIntervalMs: 1_000,
      timeoutMs: 10_000,
      retryBaseMs: 5_000,
      concurrency: 16,
      endpointConcurrency: 4,
      liveConnectionsPerUser: 10,
      liveSubscriptionsPerConnection: 20,
      allowPrivateNetworks: false,
      requireHttps: false,
    });
    // Under test the workers stay off unless a test turns them on.
    expect(loadConfig({ NODE_ENV: 'test' }).webhooks.workerIntervalMs).toBe(0);
  });

  it('require https in production', () => {
    const production = loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/tally', AUTH_JWT_SECRET: 'x'.repeat(32) });
    expect(production.webhooks.requireHttps).toBe(true);
  });

  it('read WEBHOOK_* variables', () => {
    const config = loadConfig({
      WEBHOOK_WORKER_INTERVAL_MS: '250',
      WEBHOOK_TIMEOUT_MS: '3000',
      WEBHOOK_RETRY_BASE_MS: '10',
      WEBHOOK_CONCURRENCY: '4',
      WEBHOOK_ENDPOINT_CONCURRENCY: '2',
      WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'true',
    });
    expect(config.webhooks).toMatchObject({ workerIntervalMs: 250, timeoutMs: 3_000, retryBaseMs: 10, concurrency: 4, endpointConcurrency: 2, allowPrivateNetworks: true });
  });

  it.each([
    ['WEBHOOK_WORKER_INTERVAL_MS', 'often'],
    ['WEBHOOK_TIMEOUT_MS', '50'],
    ['WEBHOOK_TIMEOUT_MS', '600000'],
    ['WEBHOOK_RETRY_BASE_MS', '0'],
    ['WEBHOOK_CONCURRENCY', '0'],
    ['WEBHOOK_ENDPOINT_CONCURRENCY', '1000'],
    ['WEBHOOK_ALLOW_PRIVATE_NETWORKS', 'yes'],
  ])('rejects %s=%s with a ConfigError naming it', (variable, value) => {
    expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [variable]: value })).toThrow(new RegExp(`^Invalid ${variable}:`));
  });
});

describe('the retry schedule', () => {
  const exact = (attempts: number, baseMs = 5_000) => retryDelayMs(attempts, baseMs, () => 0.5);
  const hours = 3_600_000;

  it('waits 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, 14 h and 24 h, then gives up after the tenth attempt', () => {
    expect(Array.from({ length: 9 }, (_, i) => exact(i + 1))).toEqual([5_000, 300_000, 1_800_000, 2 * hours, 5 * hours, 10 * hours, 10 * hours, 14 * hours, 24 * hours]);
    expect(MAX_ATTEMPTS).toBe(10);
    expect(exact(10)).toBeUndefined();
    expect(exact(0)).toBeUndefined();
    const total = Array.from({ length: 9 }, (_, i) => exact(i + 1)!).reduce((sum, delay) => sum + delay, 0);
    expect(total / hours).toBeCloseTo(65.58, 1);
  });

  it('jitters each delay by at most 10%, and scales with the base', () => {
    expect(retryDelayMs(2, 5_000, () => 0)).toBe(270_000);
    expect(retryDelayMs(2, 5_000, () => 0.999999)).toBe(330_000);
    expect(retryDelayMs(3, 10, () => 0.5)).toBe(3_600);
  });
});

describe("an endpoint's Retry-After", () => {
  const now = Date.parse('2026-12-03T12:00:00Z');

  it('reads delay-seconds and HTTP-dates, a past date as 0, and nothing else', () => {
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Thu, 03 Dec 2026 13:00:00 GMT', now)).toBe(3_600_000);
    expect(parseRetryAfter('Thu, 03 Dec 2026 11:00:00 GMT', now)).toBe(0);
    for (const unreadable of [undefined, '', '-5', '1.5', 'soon', '2026-12-03T13:00:00Z', '12345678901', 'Thu, 99 Foo 2026 GMT']) {
      expect(parseRetryAfter(unreadable, now)).toBeUndefined();
    }
  });

  it('can postpone a retry up to 24 h, never bring it forward', () => {
    expect(nextDelayMs(5_000, undefined)).toBe(5_000);
    expect(nextDelayMs(5_000, 60_000)).toBe(60_000);
    expect(nextDelayMs(300_000, 1_000)).toBe(300_000);
    expect(nextDelayMs(5_000, 30 * 24 * 3_600_000)).toBe(MAX_RETRY_AFTER_MS);
    expect(MAX_RETRY_AFTER_MS).toBe(24 * 3_600_000);
  });
});
