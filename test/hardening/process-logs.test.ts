import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createTestDatabase, sqlPool } from '../support/database.js';
import { cleanEnv, spawnNode, stopAllProcesses, type RunningProcess } from '../support/processes.js';
import { TEST_JWT_SECRET, tokenFor } from '../support/tokens.js';
import { send } from '../support/http.js';

interface LogLine {
  level: number;
  time: string;
  service: string;
  msg: string;
  requestId?: string;
  [key: string]: unknown;
}

/** The built server as it runs in production (`node dist/src/main.js`), reading its JSON log lines from stdout. */
describe('the production process: structured logs with request ids', () => {
  let databaseUrl: string;
  let tally: RunningProcess;
  let url: string;

  beforeAll(async () => {
    databaseUrl = await createTestDatabase();
    tally = spawnNode(
      ['dist/src/main.js'],
      cleanEnv({ NODE_ENV: 'production', DATABASE_URL: databaseUrl, AUTH_JWT_SECRET: TEST_JWT_SECRET, PORT: '0', LOG_LEVEL: 'info', STARTER_CREDITS: '5' }),
    );
    const [readyLine] = await tally.waitForOutput(/^.*"msg":"ready".*$/m, { stream: 'stdout' });
    url = (JSON.parse(readyLine) as { url: string }).url.replace(/\/graphql$/, '');
  });
  afterAll(() => stopAllProcesses());

  const post = async (requestId: string, body: unknown) =>
    send(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('user_process_logs')}`, 'x-request-id': requestId },
      body: JSON.stringify(body),
    });

  it('writes one JSON line per event, an access line per request, and the request id on every line of a request', async () => {
    const spend = await post('proc-spend', {
      query: 'mutation Spend($input: ConsumeCreditsInput!) { consumeCredits(input: $input) { id } }',
      variables: { input: { amount: 1, feature: 'logs', idempotencyKey: 'logs-1' } },
    });
    expect(spend.status).toBe(200);

    // A real fault for the next request: the ledger table is gone from this test's own database.
    const sql = sqlPool(databaseUrl);
    await sql.query('alter table credit_transactions rename to credit_transactions_gone');
    await sql.end();
    const fault = await post('proc-fault', { query: 'query History { creditHistory(first: 5) { edges { node { id } } } }' });
    expect(JSON.parse(fault.text).errors).toEqual([{ message: 'Internal server error', path: ['creditHistory'], extensions: { code: 'INTERNAL_SERVER_ERROR' } }]);

    tally.child.kill('SIGTERM');
    const exit = await tally.waitForExit(30_000);
    expect(exit.code).toBe(0);

    const lines = tally
      .stdout()
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as LogLine);
    expect(lines.every((line) => line.service === 'tally' && typeof line.level === 'number' && !Number.isNaN(Date.parse(line.time)))).toBe(true);

    const ready = lines.findIndex((line) => line.msg === 'ready');
    const stopping = lines.findIndex((line) => /shutting down/.test(line.msg));
    expect(ready).toBeGreaterThanOrEqual(0);
    expect(stopping).toBeGreaterThan(ready);
    const serving = lines.slice(ready + 1, stopping);
    // Everything logged while serving was logged for some request, and says which.
    expect(serving.length).toBeGreaterThanOrEqual(3);
    expect(serving.filter((line) => !line.requestId)).toEqual([]);

    const spendLines = serving.filter((line) => line.requestId === 'proc-spend');
    expect(spendLines).toEqual([
      expect.objectContaining({ msg: 'request', method: 'POST', path: '/graphql', status: 200, operationName: 'Spend', durationMs: expect.any(Number) }),
    ]);

    const faultLines = serving.filter((line) => line.requestId === 'proc-fault');
    expect(faultLines.map((line) => line.msg)).toEqual(['unexpected error while resolving', 'request']);
    // The detail the client was spared is in the log, for the operator.
    expect(JSON.stringify(faultLines[0])).toMatch(/credit_transactions.*does not exist/);
    expect(faultLines[1]).toMatchObject({ status: 200, operationName: 'History', path: '/graphql' });
    expect(lines.some((line) => line.msg === 'stopped')).toBe(true);
  });
});
