import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { allowancePeriod } from '../../src/credits/allowances.js';
import { ALLOWANCE_RACES_ENV, allowanceRaces } from '../cases/allowance-races.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ADMIN_SUB } from '../support/subjects.js';

/**
 * Monthly plan allowances, granted by two service instances (two servers, two ORMs) on one database at once, with
 * the clock injected (test/scale/pgbouncer.test.ts runs the same behind PgBouncer). Internal by design: the
 * background jobs are called directly, with the time they run at as a parameter.
 */
describe('plan allowances', () => {
  let first: TestServer;
  let second: TestServer;

  beforeAll(async () => {
    first = await startTestServer({ env: ALLOWANCE_RACES_ENV });
    second = await startTestServer({ databaseUrl: first.databaseUrl, env: { ADMIN_USER_IDS: ADMIN_SUB } });
  });
  afterAll(async () => {
    await second?.close();
    await first?.close();
  });

  it('names each UTC calendar month and its neighbour', () => {
    expect(allowancePeriod(new Date('2031-01-31T23:59:59.999Z'))).toEqual({
      period: '2031-01',
      key: 'allowance:2031-01',
      previousKey: 'allowance:2030-12',
      start: new Date('2031-01-01T00:00:00Z'),
      end: new Date('2031-02-01T00:00:00Z'),
    });
    expect(allowancePeriod(new Date('2031-12-01T00:00:00Z')).end).toEqual(new Date('2032-01-01T00:00:00Z'));
  });

  allowanceRaces(() => [first, second]);
});
