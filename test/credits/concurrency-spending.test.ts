import { afterAll, beforeAll, describe } from '@jest/globals';
import { SPENDING_RACES_ENV, spendingRaces } from '../cases/spending-races.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Races fired with Promise.all against one real server (test/scale/pgbouncer.test.ts runs them across two). */
describe('concurrency', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: SPENDING_RACES_ENV });
  });
  afterAll(() => server.close());

  spendingRaces(() => [server]);
});
