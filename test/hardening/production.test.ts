import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../support/server.js';
import { tokenFor } from '../support/tokens.js';
import { codesOf } from '../support/errors.js';
import { send } from '../support/http.js';

const HISTORY_QUERY = '{ creditHistory(first: 5) { edges { node { id amount } } } }';

describe('NODE_ENV=production', () => {
  let production: TestServer;
  let development: TestServer;
  beforeAll(async () => {
    [production, development] = await Promise.all([startTestServer({ env: { NODE_ENV: 'production' } }), startTestServer()]);
  });
  afterAll(() => Promise.all([production?.close(), development?.close()]));

  it('refuses introspection in production and answers it elsewhere', async () => {
    for (const query of ['{ __schema { types { name } } }', '{ __type(name: "User") { fields { name } } }']) {
      const refused = await production.as().raw({ query });
      expect(refused.status).toBe(400);
      expect(codesOf(refused)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(refused.errors?.[0]?.message).toMatch(/introspection/i);

      const answered = await development.as().raw({ query });
      expect(answered.errors).toBeUndefined();
    }
  });

  it('serves no Apollo Sandbox in production, and serves it elsewhere', async () => {
    const asBrowser = { headers: { accept: 'text/html' } };
    const prod = await send(`${production.url}/graphql`, asBrowser);
    expect(prod.status).not.toBe(200);
    expect(prod.text.toLowerCase()).not.toContain('sandbox');

    const dev = await send(`${development.url}/graphql`, asBrowser);
    expect(dev.status).toBe(200);
    expect(dev.headers.get('content-type')).toMatch(/text\/html/);
    expect(dev.text.toLowerCase()).toContain('sandbox');
  });

  it('hides field suggestions in production (they would reveal the schema)', async () => {
    const query = '{ creditBalanc }';
    const prod = await production.as('user_prod_typo').raw({ query });
    expect(codesOf(prod)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(prod.errors?.[0]?.message).not.toMatch(/did you mean|creditBalance/i);

    const dev = await development.as('user_dev_typo').raw({ query });
    expect(dev.errors?.[0]?.message).toMatch(/Did you mean "creditBalance"/);
  });

  it('answers an error that echoes a long run of spaces promptly, with the text intact', async () => {
    const spaces = ' '.repeat(60_000);
    const prod = await production.as('user_prod_spaces').raw({ query: `{ creditHistory(first: "${spaces}x") { edges { node { id } } } }` });
    expect(codesOf(prod)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    expect(prod.errors![0]!.message).toContain(`${spaces}x`);
  });

  it('hides enum and argument suggestions in production too, in literals and in variables', async () => {
    const range = { from: '2026-01-01T00:00:00Z', to: '2026-02-01T00:00:00Z' };
    const literal = `{ creditUsage(from: "${range.from}", to: "${range.to}", window: DAYS) { credits } }`;
    const variable = 'query($w: UsageWindow!) { creditUsage(from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z", window: $w) { credits } }';
    const argument = '{ creditHistory(firs: 5) { edges { node { id } } } }';
    for (const [query, variables] of [[literal, undefined], [variable, { w: 'DAYS' }], [argument, undefined]] as const) {
      const prod = await production.as('user_prod_enum').raw({ query, variables });
      expect(prod.errors?.length).toBeGreaterThan(0);
      expect(prod.errors!.map((error) => error.message).join(' ')).not.toMatch(/did you mean/i);
      const dev = await development.as('user_dev_enum').raw({ query, variables });
      expect(dev.errors!.map((error) => error.message).join(' ')).toMatch(/Did you mean/);
    }
  });

  it('answers a database failure with a bare INTERNAL_SERVER_ERROR: no SQL, driver message or stack', async () => {
    // A real fault in this test's own database: the table the resolver reads is gone.
    await production.sql.query('alter table credit_transactions rename to credit_transactions_gone');
    await development.sql.query('alter table credit_transactions rename to credit_transactions_gone');

    const response = await send(`${production.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('user_prod_fault')}` },
      body: JSON.stringify({ query: HISTORY_QUERY }),
    });
    const body = JSON.parse(response.text) as { data: unknown; errors: { message: string; extensions: Record<string, unknown> }[] };
    expect(body.data).toBeNull();
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0]).toMatchObject({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
    expect(Object.keys(body.errors[0]!.extensions)).toEqual(['code']);
    expect(response.text.toLowerCase()).not.toMatch(/select|credit_transactions|relation|stack|does not exist|postgres|\.ts:|\.js:/);

    // An operator who forgets NODE_ENV leaks nothing either: outside production the answer is the same.
    const dev = await development.as('user_dev_fault').raw({ query: HISTORY_QUERY });
    expect(codesOf(dev)).toEqual(['INTERNAL_SERVER_ERROR']);
    expect(dev.errors?.[0]?.message).toBe('Internal server error');
    expect(JSON.stringify(dev).toLowerCase()).not.toMatch(/select|credit_transactions|relation|does not exist|postgres/);
  });
});


describe('/metrics in production', () => {
  it('answers nobody without METRICS_TOKEN, unless the operator opts out with METRICS_PUBLIC=true', async () => {
    const closed = await startTestServer({ env: { NODE_ENV: 'production' } });
    const open = await startTestServer({ env: { NODE_ENV: 'production', METRICS_PUBLIC: 'true' } });
    try {
      const refused = await send(`${closed.url}/metrics`);
      expect(refused.status).toBe(404);
      expect(refused.text).not.toContain('tally_');
      const served = await send(`${open.url}/metrics`);
      expect(served.status).toBe(200);
      expect(served.text).toContain('tally_graphql_request_duration_seconds');
    } finally {
      await Promise.all([closed.close(), open.close()]);
    }
  });
});
