import { afterAll, beforeAll, describe } from '@jest/globals';
import { RESERVATION_RACES_ENV, reservationRaces } from '../cases/reservation-races.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Holds, spends, captures, releases and sweeps racing on one server (test/scale/pgbouncer.test.ts runs them across two). */
describe('reservation concurrency', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: RESERVATION_RACES_ENV });
  });
  afterAll(() => server.close());

  reservationRaces(() => [server]);
});
