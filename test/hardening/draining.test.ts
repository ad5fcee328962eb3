import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CreditBalanceDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('draining on shutdown', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it('turns /readyz to 503 while /healthz and requests under way keep working', async () => {
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    server.startDraining();
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'draining' });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const res = await server.as('user_draining').execute(CreditBalanceDocument);
    expect(res.data?.creditBalance).toBe(0);
  });
});
