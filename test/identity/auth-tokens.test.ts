import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPair, SignJWT } from 'jose';
import { MeDocument } from '../generated/graphql.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { TEST_JWT_SECRET, tokenFor } from '../support/tokens.js';
import { errorOf } from '../support/errors.js';
import { uniqueSub } from '../support/subjects.js';

const now = () => Math.floor(Date.now() / 1000);
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An HS256 token with exactly these claims (no sub unless given), signed with `secret`. */
const hs256 = (claims: Record<string, unknown>, secret: string | Uint8Array = TEST_JWT_SECRET) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(typeof secret === 'string' ? new TextEncoder().encode(secret) : secret);

async function usersWithSub(server: TestServer, sub: string): Promise<number> {
  const { rows } = await server.sql.query<{ n: number }>('select count(*)::int as n from users where clerk_user_id = $1', [sub]);
  return rows[0]!.n;
}

/** The request is answered UNAUTHENTICATED, with no data, and no user is provisioned for `sub`. */
async function expectRejected(server: TestServer, authorization: string, sub?: string) {
  const res = await server.withAuthorization(authorization).execute(MeDocument);
  expect(errorOf(res)?.code).toBe('UNAUTHENTICATED');
  expect(res.data ?? null).toBeNull();
  expect(res.status).toBe(401);
  if (sub) expect(await usersWithSub(server, sub)).toBe(0);
}

describe('token verification with an HS256 secret', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it('accepts a valid token (the baseline the rejections below differ from by one thing)', async () => {
    const sub = uniqueSub('valid');
    const res = await server.withAuthorization(`Bearer ${await tokenFor(sub)}`).execute(MeDocument);
    expect(res.errors).toBeUndefined();
    expect(res.data?.me.clerkUserId).toBe(sub);
    expect(await usersWithSub(server, sub)).toBe(1);
  });

  it('rejects an expired token', async () => {
    const sub = uniqueSub('expired');
    await expectRejected(server, `Bearer ${await tokenFor(sub, { iat: now() - 3600 }, { expiresIn: now() - 120 })}`, sub);
  });

  it('rejects a token that is not yet valid (nbf in the future)', async () => {
    const sub = uniqueSub('nbf');
    await expectRejected(server, `Bearer ${await tokenFor(sub, { nbf: now() + 300 })}`, sub);
  });

  it('rejects a token signed with another secret', async () => {
    const sub = uniqueSub('othersecret');
    await expectRejected(server, `Bearer ${await tokenFor(sub, {}, { secret: 'another-secret-that-is-also-32-bytes-long!!' })}`, sub);
  });

  it('rejects a token whose payload was changed after signing', async () => {
    const sub = uniqueSub('tampered');
    const [header, , signature] = (await tokenFor(uniqueSub('original'))).split('.');
    await expectRejected(server, `Bearer ${header}.${base64url({ sub, exp: now() + 3600 })}.${signature}`, sub);
  });

  it('rejects an unsigned token (alg: none)', async () => {
    const sub = uniqueSub('algnone');
    const unsigned = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url({ sub, iat: now(), exp: now() + 3600 })}.`;
    await expectRejected(server, `Bearer ${unsigned}`, sub);
  });

  it('rejects an RS256 token when no JWKS is configured', async () => {
    const sub = uniqueSub('rs256');
    const { privateKey } = await generateKeyPair('RS256');
    const token = await new SignJWT({ sub }).setProtectedHeader({ alg: 'RS256' }).setExpirationTime('1h').sign(privateKey);
    await expectRejected(server, `Bearer ${token}`, sub);
  });

  it('rejects a subject PostgreSQL could not store as sent (a NUL, a lone surrogate), so two subjects never become one user', async () => {
    await expectRejected(server, `Bearer ${await hs256({ sub: 'user_nul\u0000x' })}`);
    await expectRejected(server, `Bearer ${await hs256({ sub: 'user_half\udbffx' })}`);
    expect(await usersWithSub(server, 'user_half\ufffdx')).toBe(0);
  });

  it('leaves out a profile claim it could not store, and still signs the user in', async () => {
    const sub = uniqueSub('nul_email');
    const res = await server.withAuthorization(`Bearer ${await hs256({ sub, email: 'a\u0000@example.com' })}`).raw({ query: '{ me { id email } }' });
    expect(res.errors).toBeUndefined();
    expect((res.data as { me: { email: string | null } }).me.email).toBeNull();
  });

  it('rejects a token without sub, or with an empty one', async () => {
    await expectRejected(server, `Bearer ${await hs256({ email: 'nosub@example.com' })}`);
    await expectRejected(server, `Bearer ${await hs256({ sub: '' })}`);
    expect(await usersWithSub(server, '')).toBe(0);
  });

  it.each([
    ['Basic credentials', 'Basic dXNlcjpwYXNz'],
    ['a bare scheme', 'Bearer'],
    ['a scheme and blanks', 'Bearer    '],
    ['garbage', 'Bearer garbage'],
    ['three garbage segments', 'Bearer a.b.c'],
    ['two tokens', 'Bearer a.b.c d.e.f'],
    ['a token with no scheme', 'eyJhbGciOiJIUzI1NiJ9.e30.abc'],
    ['an oversized token', `Bearer ${'a'.repeat(9000)}`],
  ])('rejects a malformed Authorization header: %s', async (_label, header) => {
    const before = await server.sql.query<{ n: number }>('select count(*)::int as n from users');
    await expectRejected(server, header);
    const after = await server.sql.query<{ n: number }>('select count(*)::int as n from users');
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });
});

describe('token verification with a JWKS endpoint and an issuer (Clerk-style)', () => {
  let jwks: JwksServer;
  let server: TestServer;
  let jwksOnly: TestServer;
  beforeAll(async () => {
    jwks = await startJwksServer();
    const env = { AUTH_JWKS_URL: jwks.url, AUTH_ISSUER: jwks.issuer };
    server = await startTestServer({ env });
    // No HS256 secret at all: only the JWKS key can sign.
    jwksOnly = await startTestServer({ env: { ...env, AUTH_JWT_SECRET: '' } });
  });
  afterAll(async () => {
    await server.close();
    await jwksOnly.close();
    await jwks.close();
  });

  const clerkClaims = (sub: string) => ({
    sub,
    iss: jwks.issuer,
    azp: 'http://localhost:3000',
    sid: 'sess_2abc',
    iat: now(),
    nbf: now() - 5,
    exp: now() + 60,
    email: `${sub}@example.com`,
    given_name: 'Ada',
    family_name: 'Lovelace',
    picture: 'https://img.example.com/ada.png',
  });

  it.each([
    ['HS256 secret and JWKS', () => server],
    ['JWKS only', () => jwksOnly],
  ])('accepts a valid RS256 token with Clerk claims (%s) and fills the profile', async (_label, target) => {
    const sub = uniqueSub('clerk');
    const res = await target().withAuthorization(`Bearer ${await jwks.sign(clerkClaims(sub))}`).execute(MeDocument);
    expect(res.errors).toBeUndefined();
    expect(res.data?.me).toMatchObject({ clerkUserId: sub, email: `${sub}@example.com`, firstName: 'Ada', lastName: 'Lovelace', roles: [] });
  });

  it('rejects an RS256 token from another issuer', async () => {
    const sub = uniqueSub('rsiss');
    await expectRejected(server, `Bearer ${await jwks.sign({ ...clerkClaims(sub), iss: 'https://evil.example' })}`, sub);
  });

  it('rejects an HS256 token with the right secret but the wrong issuer, or none', async () => {
    const sub = uniqueSub('hsiss');
    await expectRejected(server, `Bearer ${await tokenFor(sub, { iss: 'https://evil.example' })}`, sub);
    await expectRejected(server, `Bearer ${await tokenFor(sub)}`, sub);
    // The same secret with the configured issuer is fine: the issuer is what made the difference.
    const ok = await server.withAuthorization(`Bearer ${await tokenFor(sub, { iss: jwks.issuer })}`).execute(MeDocument);
    expect(ok.data?.me.clerkUserId).toBe(sub);
  });

  it('rejects an expired RS256 token', async () => {
    const sub = uniqueSub('rsexp');
    await expectRejected(server, `Bearer ${await jwks.sign({ ...clerkClaims(sub), iat: now() - 3600, nbf: now() - 3600, exp: now() - 120 })}`, sub);
  });

  it('rejects an RS256 token signed by a key the JWKS does not hold', async () => {
    const sub = uniqueSub('rsforeign');
    const { privateKey } = await generateKeyPair('RS256');
    await expectRejected(server, `Bearer ${await jwks.sign(clerkClaims(sub), { privateKey })}`, sub);
    await expectRejected(server, `Bearer ${await jwks.sign(clerkClaims(sub), { privateKey, kid: 'unknown-kid' })}`, sub);
  });

  it.each([
    ['HS256 secret and JWKS', () => server],
    ['JWKS only', () => jwksOnly],
  ])('rejects algorithm confusion: HS256 signed with the RSA public key PEM (%s)', async (_label, target) => {
    const sub = uniqueSub('confusion');
    const forged = await hs256(clerkClaims(sub), new TextEncoder().encode(jwks.publicKeyPem));
    await expectRejected(target(), `Bearer ${forged}`, sub);
  });

  it('rejects alg: none with the right issuer', async () => {
    const sub = uniqueSub('rsnone');
    await expectRejected(jwksOnly, `Bearer ${base64url({ alg: 'none' })}.${base64url(clerkClaims(sub))}.`, sub);
  });
});

describe('token claims that bound a token: exp, aud, azp', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { AUTH_AUDIENCE: 'tally-api', AUTH_AUTHORIZED_PARTIES: 'https://app.tally.test, https://admin.tally.test' } });
  });
  afterAll(() => server.close());

  const token = (claims: Record<string, unknown>, expires = true) => {
    const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt();
    return (expires ? jwt.setExpirationTime('1h') : jwt).sign(new TextEncoder().encode(TEST_JWT_SECRET));
  };

  it('accepts a token for this audience from an authorized party (the baseline)', async () => {
    const sub = uniqueSub('aud_ok');
    const res = await server.withAuthorization(`Bearer ${await token({ sub, aud: 'tally-api', azp: 'https://app.tally.test' })}`).execute(MeDocument);
    expect(res.errors).toBeUndefined();
  });

  it('rejects a token without exp: it would be valid forever', async () => {
    const sub = uniqueSub('no_exp');
    await expectRejected(server, `Bearer ${await token({ sub, aud: 'tally-api' }, false)}`, sub);
  });

  it('rejects a token for another audience, or for none', async () => {
    const sub = uniqueSub('aud');
    await expectRejected(server, `Bearer ${await token({ sub, aud: 'someone-else' })}`, sub);
    await expectRejected(server, `Bearer ${await token({ sub })}`, sub);
  });

  it('rejects a token issued to a party that is not authorized (Clerk azp); one without azp passes', async () => {
    const sub = uniqueSub('azp');
    await expectRejected(server, `Bearer ${await token({ sub, aud: 'tally-api', azp: 'https://evil.example' })}`, sub);
    const backend = await server.withAuthorization(`Bearer ${await token({ sub, aud: 'tally-api' })}`).execute(MeDocument);
    expect(backend.errors).toBeUndefined();
  });
});

describe('admin rights follow ADMIN_USER_IDS on every request', () => {
  it('are taken away from a subject removed from the list at the next start, and me { roles } says so', async () => {
    const { createTestDatabase } = await import('../support/database.js');
    const databaseUrl = await createTestDatabase();
    const audit = '{ auditLedger { ok } me { roles } }';
    const before = await startTestServer({ databaseUrl, env: { ADMIN_USER_IDS: 'user_was_admin' } });
    try {
      const res = await before.as('user_was_admin').raw({ query: audit });
      expect(res.errors).toBeUndefined();
      expect((res.data as { me: { roles: string[] } }).me.roles).toEqual(['admin']);
    } finally {
      await before.close();
    }
    const after = await startTestServer({ databaseUrl, env: { ADMIN_USER_IDS: 'user_someone_else' } });
    try {
      const res = await after.as('user_was_admin').raw({ query: audit });
      expect(errorOf(res)?.code).toBe('FORBIDDEN');
      const me = await after.as('user_was_admin').raw({ query: '{ me { roles } }' });
      expect(me.data).toEqual({ me: { roles: [] } });
      const { rows } = await after.sql.query(`select roles from users where clerk_user_id = 'user_was_admin'`);
      expect(rows[0].roles).toEqual([]);
    } finally {
      await after.close();
    }
  });
});
