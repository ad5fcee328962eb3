import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { VerifiedTokens } from '../../src/graphql/auth.js';
import { MeDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { tokenFor } from '../support/tokens.js';

/** Verified tokens are remembered until they expire; remembering must never outlive the token. */
describe('verified-token cache', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it('stops accepting a remembered token once its exp (plus the 5 s clock tolerance) has passed', async () => {
    // exp 3 s ago: still inside the tolerance, so accepted now, and remembered for 2 more seconds at most.
    const token = await tokenFor('user_cache', {}, { expiresIn: Math.floor(Date.now() / 1000) - 3 });
    const client = server.withAuthorization(`Bearer ${token}`);
    expect((await client.execute(MeDocument)).data?.me.clerkUserId).toBe('user_cache');
    expect((await client.execute(MeDocument)).data?.me.clerkUserId).toBe('user_cache');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const late = await client.execute(MeDocument);
    expect(late.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(late.status).toBe(401);
  });

  it('does not let a remembered token vouch for a tampered copy', async () => {
    const token = await tokenFor('user_cache_2');
    expect((await server.withAuthorization(`Bearer ${token}`).execute(MeDocument)).data?.me.clerkUserId).toBe('user_cache_2');
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: 'user_admin' })).toString('base64url');
    const res = await server.withAuthorization(`Bearer ${header}.${forged}.${signature}`).execute(MeDocument);
    expect(res.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('VerifiedTokens', () => {
  const identity = (subject: string) => ({ subject });

  it('keys a token by its SHA-256, not its text, and serves it until its end only', () => {
    const token = `${'h'.repeat(40)}.${'p'.repeat(900)}.${'s'.repeat(43)}`;
    const key = VerifiedTokens.keyOf(token);
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(VerifiedTokens.keyOf(`${token}x`)).not.toBe(key);
    const cache = new VerifiedTokens(10);
    cache.set(key, identity('user_a'), 100);
    expect(cache.get(key, 99.9)).toEqual({ subject: 'user_a' });
    expect(cache.get(key, 100)).toBeUndefined();
    // A lapsed entry is dropped when found, not kept until evicted.
    expect(cache.size).toBe(0);
  });

  it('holds as many tokens as its bound, the first stored leaving first', () => {
    const cache = new VerifiedTokens(3);
    for (const name of ['a', 'b', 'c', 'd']) cache.set(name, identity(name), 100);
    expect(cache.size).toBe(3);
    expect(cache.get('a', 0)).toBeUndefined();
    expect(['b', 'c', 'd'].map((name) => cache.get(name, 0)?.subject)).toEqual(['b', 'c', 'd']);
  });

  it('serves 12,000 sessions taken in turn from memory on every lap after the first (the old bound of 10,000 missed every time)', () => {
    const cache = new VerifiedTokens();
    const keys = Array.from({ length: 12_000 }, (_, i) => VerifiedTokens.keyOf(`token-${i}`));
    let misses = 0;
    for (let lap = 0; lap < 3; lap++) {
      for (const [i, key] of keys.entries()) {
        if (cache.get(key, 0)) continue;
        misses++;
        cache.set(key, identity(`user_${i}`), 300);
      }
    }
    expect(misses).toBe(keys.length);

    const small = new VerifiedTokens(10_000);
    let smallMisses = 0;
    for (let lap = 0; lap < 2; lap++) {
      for (const key of keys) {
        if (small.get(key, 0)) continue;
        smallMisses++;
        small.set(key, identity('x'), 300);
      }
    }
    expect(smallMisses).toBe(2 * keys.length);
  });
});
