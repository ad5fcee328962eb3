import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
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
