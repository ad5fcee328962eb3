import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from '../support/server.js';
import { send } from '../support/http.js';

/** /console: the built page and its assets from the API itself, under a strict policy; off in production unless asked. */
describe('serving /console', () => {
  let development: TestServer;
  let production: TestServer;
  let productionOn: TestServer;
  beforeAll(async () => {
    [development, production, productionOn] = await Promise.all([
      startTestServer(),
      startTestServer({ env: { NODE_ENV: 'production' } }),
      startTestServer({ env: { NODE_ENV: 'production', CONSOLE_ENABLED: 'true' } }),
    ]);
  });
  afterAll(() => Promise.all([development?.close(), production?.close(), productionOn?.close()]));

  const policyOf = (headers: Headers) =>
    Object.fromEntries(
      (headers.get('content-security-policy') ?? '')
        .split(';')
        .map((part) => part.trim().split(/\s+/))
        .map(([name, ...values]) => [name, values]),
    );

  it('serves the page for every path under /console, with a strict Content-Security-Policy', async () => {
    for (const path of ['/console', '/console/', '/console/users/usr_abc', '/console/audit']) {
      const res = await send(`${development.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/html/);
      expect(res.text).toContain('<script type="module" src="/console/assets/console.js"></script>');
      const policy = policyOf(res.headers);
      expect(policy['default-src']).toEqual(["'none'"]);
      expect(policy['script-src']).toEqual(["'self'"]);
      expect(policy['style-src']).toEqual(["'self'"]);
      expect(policy['connect-src']).toEqual(["'self'"]);
      expect(policy['frame-ancestors']).toEqual(["'none'"]);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
  });

  it('has no inline script or style, and loads nothing from another origin', async () => {
    const page = (await send(`${development.url}/console/`)).text;
    expect(page).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(page).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//);
    const script = await send(`${development.url}/console/assets/console.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expect(script.text).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    const styles = await send(`${development.url}/console/assets/console.css`);
    expect(styles.status).toBe(200);
    expect(styles.text).not.toMatch(/@import|url\(\s*['"]?https?:/);
  });

  it('answers 404 for an asset that does not exist', async () => {
    const res = await send(`${development.url}/console/assets/nothing.js`);
    expect(res.status).toBe(404);
  });

  it('describes which optional parts of the API this server has', async () => {
    const res = await send(`${development.url}/console/capabilities.json`);
    expect(res.status).toBe(200);
    const capabilities = JSON.parse(res.text) as { query: Record<string, { args: { name: string }[] }>; mutation: Record<string, unknown>; types: Record<string, { name: string }[]> };
    expect(Object.keys(capabilities.query)).toEqual(expect.arrayContaining(['users', 'organizations']));
    expect(capabilities.query.users!.args.map((arg) => arg.name).sort()).toEqual(['after', 'first', 'search']);
    expect(Object.keys(capabilities.mutation)).toEqual(expect.arrayContaining(['grantCredits', 'refundCredits', 'releaseReservation']));
    expect(capabilities.types.User!.map((field) => field.name)).toContain('planTier');
    // Only what is optional is described: not the schema at large.
    expect(capabilities.types.CreditTransaction).toBeUndefined();
  });

  it('is off in production unless CONSOLE_ENABLED=true, and its page grants nothing by itself', async () => {
    expect((await send(`${production.url}/console/`)).status).toBe(404);
    expect((await send(`${production.url}/console/capabilities.json`)).status).toBe(404);
    expect((await send(`${productionOn.url}/console/`)).status).toBe(200);
    expect((await send(`${productionOn.url}/console/capabilities.json`)).status).toBe(200);
    // The API behind it still asks for an admin.
    const anonymous = await productionOn.as().raw({ query: '{ users(first: 1) { edges { node { id } } } }' });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const stranger = await productionOn.as('user_not_an_admin').raw({ query: '{ users(first: 1) { edges { node { id } } } }' });
    expect(stranger.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
