import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CreditPacksDocument, MeDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('public API', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    await server.sql.query(
      `insert into credit_packs (id, name, credits, price_cents, currency, active) values
       ('pack_a', 'A', 5, 900, 'usd', true), ('pack_b', 'B', 1, 200, 'usd', true), ('pack_c', 'Retired', 3, 100, 'usd', false)`,
    );
  });
  afterAll(() => server.close());

  it('lists active credit packs without a token, smallest first', async () => {
    const res = await server.as().execute(CreditPacksDocument);
    expect(res.errors).toBeUndefined();
    expect(res.data?.creditPacks).toEqual([
      { id: 'pack_b', name: 'B', credits: 1, priceCents: 200, currency: 'usd' },
      { id: 'pack_a', name: 'A', credits: 5, priceCents: 900, currency: 'usd' },
    ]);
  });

  it('answers everything else without a token with UNAUTHENTICATED', async () => {
    const res = await server.as().execute(MeDocument);
    expect(res.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('answers /healthz with 200 while the database is reachable', async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('provisions a user on the first authenticated request', async () => {
    const res = await server.as('user_first', { email: 'first@example.com', given_name: 'Fi' }).execute(MeDocument);
    expect(res.errors).toBeUndefined();
    expect(res.data?.me).toMatchObject({ clerkUserId: 'user_first', email: 'first@example.com', firstName: 'Fi', creditBalance: 0, planTier: 'free', roles: [] });
    expect(res.data?.me.id).toMatch(/^usr_[a-z0-9]+$/);
  });
});
