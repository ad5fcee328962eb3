import { describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';

type Env = Record<string, string | undefined>;

const SECRET = 'a-development-secret-of-at-least-32-bytes';

/** The ConfigError that `env` produces; fails the test when it loads or throws something else. */
function configError(env: Env): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe('loadConfig defaults', () => {
  it('needs nothing in development', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      env: 'development',
      isProduction: false,
      port: 4000,
      databaseUrl: undefined,
      dataDir: path.resolve('.data'),
      starterCredits: 0,
      workshopCreditCost: 1,
      stripe: undefined,
      appUrl: 'http://localhost:4000',
      logLevel: 'info',
    });
    expect(config.auth).toEqual({
      jwtSecret: undefined,
      jwksUrl: undefined,
      issuer: undefined,
      audience: undefined,
      authorizedParties: undefined,
      generatedSecret: false,
    });
    // The seeded demo admin, on the embedded development database only.
    expect([...config.adminUserIds]).toEqual(['user_admin']);
    expect([...loadConfig({ DATABASE_URL: 'postgres://localhost/x' }).adminUserIds]).toEqual([]);
    expect([...loadConfig({ NODE_ENV: 'test' }).adminUserIds]).toEqual([]);
    expect([...loadConfig({ ADMIN_USER_IDS: 'user_a, user_b' }).adminUserIds]).toEqual(['user_a', 'user_b']);
  });

  it('reads only the env object it is given', () => {
    expect(loadConfig({ PORT: '4321' }).port).toBe(4321);
    expect(loadConfig({}).port).toBe(4000);
  });

  it('treats blank values as unset', () => {
    const config = loadConfig({ PORT: '  ', DATABASE_URL: '', STARTER_CREDITS: ' ', STRIPE_SECRET_KEY: '' });
    expect(config).toMatchObject({ port: 4000, databaseUrl: undefined, starterCredits: 0, stripe: undefined });
  });

  it('takes valid values', () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      PORT: '0',
      DATABASE_URL: 'postgresql://app:pw@db.internal:5432/tally',
      DATA_DIR: '/tmp/tally-data',
      AUTH_JWT_SECRET: SECRET,
      ADMIN_USER_IDS: ' user_a, user_b ,,',
      STARTER_CREDITS: '25',
      WORKSHOP_CREDIT_COST: '3',
      STRIPE_SECRET_KEY: 'sk_test_123abc',
      STRIPE_WEBHOOK_SECRET: 'whsec_abc',
      STRIPE_API_BASE: 'http://127.0.0.1:12111',
      APP_URL: 'https://app.example.com/',
    });
    expect(config).toMatchObject({
      env: 'test',
      port: 0,
      databaseUrl: 'postgresql://app:pw@db.internal:5432/tally',
      dataDir: '/tmp/tally-data',
      starterCredits: 25,
      workshopCreditCost: 3,
      appUrl: 'https://app.example.com',
      logLevel: 'silent',
    });
    expect(config.auth.jwtSecret).toBe(SECRET);
    expect([...config.adminUserIds].sort()).toEqual(['user_a', 'user_b']);
    expect(config.stripe).toMatchObject({ secretKey: 'sk_test_123abc', webhookSecret: 'whsec_abc' });
    expect(config.stripe?.apiBase?.toString()).toBe('http://127.0.0.1:12111/');
  });

  it('takes RS256 settings (JWKS URL with an issuer)', () => {
    const config = loadConfig({ AUTH_JWKS_URL: 'https://x.clerk.accounts.dev/.well-known/jwks.json', AUTH_ISSUER: 'https://x.clerk.accounts.dev' });
    expect(config.auth).toMatchObject({ jwksUrl: 'https://x.clerk.accounts.dev/.well-known/jwks.json', issuer: 'https://x.clerk.accounts.dev' });
  });

  it('starts in production with a database and auth configured', () => {
    const config = loadConfig({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/tally', AUTH_JWT_SECRET: SECRET });
    expect(config).toMatchObject({ env: 'production', isProduction: true });
  });

  it('takes a direct database URL beside a pooled one, and none by default', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://db/tally' }).database.directUrl).toBeUndefined();
    const config = loadConfig({ DATABASE_URL: 'postgres://app:pw@pgbouncer:6432/tally', DATABASE_DIRECT_URL: 'postgres://app:pw@db:5432/tally' });
    expect(config.database).toEqual({ statementTimeoutMs: 5_000, preparedStatements: true, poolSize: 20, directUrl: 'postgres://app:pw@db:5432/tally' });
  });

  it('sizes the serving pool from DATABASE_POOL_SIZE, 20 by default', () => {
    expect(loadConfig({}).database.poolSize).toBe(20);
    expect(loadConfig({ DATABASE_POOL_SIZE: '4' }).database.poolSize).toBe(4);
  });

  it('serves the console by default, and in production only with CONSOLE_ENABLED=true', () => {
    const production = { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/tally', AUTH_JWT_SECRET: SECRET };
    expect(loadConfig({}).consoleEnabled).toBe(true);
    expect(loadConfig({ CONSOLE_ENABLED: 'false' }).consoleEnabled).toBe(false);
    expect(loadConfig(production).consoleEnabled).toBe(false);
    expect(loadConfig({ ...production, CONSOLE_ENABLED: 'true' }).consoleEnabled).toBe(true);
  });

  it('accepts a webhook secret without a secret key (webhook-only)', () => {
    expect(loadConfig({ STRIPE_WEBHOOK_SECRET: 'whsec_only' }).stripe).toMatchObject({ webhookSecret: 'whsec_only' });
  });
});

describe('loadConfig rejects an invalid variable with a ConfigError naming it', () => {
  it.each<[string, Env]>([
    ['DATABASE_POOL_SIZE', { DATABASE_POOL_SIZE: '0' }],
    ['DATABASE_POOL_SIZE', { DATABASE_POOL_SIZE: 'ten' }],
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '4000.5' }],
    ['PORT', { PORT: '-1' }],
    ['PORT', { PORT: '65536' }],
    ['DATABASE_URL', { DATABASE_URL: 'http://x' }],
    ['DATABASE_URL', { DATABASE_URL: 'not a url' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://db/tally' }],
    ['NODE_ENV', { NODE_ENV: 'staging' }],
    ['NODE_ENV', { NODE_ENV: 'Production' }],
    ['STARTER_CREDITS', { STARTER_CREDITS: '-5' }],
    ['STARTER_CREDITS', { STARTER_CREDITS: 'ten' }],
    ['STARTER_CREDITS', { STARTER_CREDITS: '1000001' }],
    ['WORKSHOP_CREDIT_COST', { WORKSHOP_CREDIT_COST: '0' }],
    ['WORKSHOP_CREDIT_COST', { WORKSHOP_CREDIT_COST: '1.5' }],
    ['AUTH_JWT_SECRET', { AUTH_JWT_SECRET: 'too-short' }],
    ['AUTH_JWT_SECRET', { AUTH_JWT_SECRET: 'x'.repeat(31) }],
    ['AUTH_ISSUER', { AUTH_JWKS_URL: 'https://x.clerk.accounts.dev/.well-known/jwks.json' }],
    ['AUTH_JWKS_URL', { AUTH_JWKS_URL: 'jwks.json', AUTH_ISSUER: 'https://issuer' }],
    ['AUTH_JWKS_URL', { AUTH_JWKS_URL: 'ftp://x/jwks.json', AUTH_ISSUER: 'https://issuer' }],
    ['STRIPE_SECRET_KEY', { STRIPE_SECRET_KEY: 'pk_test_123' }],
    ['STRIPE_SECRET_KEY', { STRIPE_SECRET_KEY: 'sk_prod_123' }],
    ['STRIPE_SECRET_KEY', { STRIPE_API_BASE: 'http://127.0.0.1:12111' }],
    ['STRIPE_WEBHOOK_SECRET', { STRIPE_SECRET_KEY: 'sk_test_123', STRIPE_WEBHOOK_SECRET: 'secret' }],
    ['STRIPE_WEBHOOK_SECRET', { STRIPE_WEBHOOK_SECRET: 'not-a-whsec' }],
    ['STRIPE_API_BASE', { STRIPE_SECRET_KEY: 'sk_test_123', STRIPE_API_BASE: 'localhost:12111' }],
    ['STRIPE_API_BASE', { STRIPE_SECRET_KEY: 'sk_test_123', STRIPE_API_BASE: 'ftp://127.0.0.1' }],
    ['APP_URL', { APP_URL: 'app.example.com' }],
    ['LOG_LEVEL', { LOG_LEVEL: 'verbose' }],
    ['AUTH_JWKS_URL', { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/tally' }],
    ['DATABASE_URL', { NODE_ENV: 'production', AUTH_JWT_SECRET: SECRET }],
    ['AUTH_JWKS_URL', { NODE_ENV: 'production', DATABASE_URL: 'postgres://db/tally', AUTH_JWKS_URL: 'http://x.clerk.accounts.dev/jwks.json', AUTH_ISSUER: 'https://x' }],
    ['AUTH_AUTHORIZED_PARTIES', { AUTH_AUTHORIZED_PARTIES: 'app.example.com' }],
    ['AUTH_AUTHORIZED_PARTIES', { AUTH_AUTHORIZED_PARTIES: 'https://app.example.com/path' }],
    ['CHECKOUT_REDIRECT_ORIGINS', { CHECKOUT_REDIRECT_ORIGINS: 'https://shop.example.com/thanks' }],
    ['DATABASE_STATEMENT_TIMEOUT_MS', { DATABASE_STATEMENT_TIMEOUT_MS: 'soon' }],
    ['DATABASE_DIRECT_URL', { DATABASE_URL: 'postgres://pgbouncer:6432/tally', DATABASE_DIRECT_URL: 'http://db:5432/tally' }],
    ['DATABASE_DIRECT_URL', { DATABASE_DIRECT_URL: 'postgres://db:5432/tally' }],
    ['MAX_OPEN_RESERVATIONS', { MAX_OPEN_RESERVATIONS: '0' }],
    ['METRICS_PUBLIC', { METRICS_PUBLIC: 'maybe' }],
    ['CONSOLE_ENABLED', { CONSOLE_ENABLED: 'yes' }],
  ])('%s from %j', (variable, env) => {
    const error = configError(env);
    expect(error.variable).toBe(variable);
    expect(error.message).toMatch(new RegExp(`^Invalid ${variable}: \\S`));
    expect(error.message).not.toContain('\n');
  });

  it('does not echo a rejected secret back', () => {
    expect(configError({ AUTH_JWT_SECRET: 'hunter2-short' }).message).not.toContain('hunter2');
    expect(configError({ STRIPE_SECRET_KEY: 'sk_prod_verysecret' }).message).not.toContain('verysecret');
    const unparsable = configError({ DATABASE_URL: 'postgres://app:s3cret-pw@db.internal:99999/tally' });
    expect(unparsable.variable).toBe('DATABASE_URL');
    expect(unparsable.message).not.toContain('s3cret-pw');
    expect(configError({ DATABASE_URL: 'mysql://app:s3cret-pw@db/tally' }).message).not.toContain('s3cret-pw');
    // Values without credentials are still shown, to make the mistake obvious.
    expect(configError({ PORT: 'abc' }).message).toBe('Invalid PORT: expected a whole number, got "abc"');
    expect(configError({ APP_URL: 'app.example.com' }).message).toContain('"app.example.com"');
  });
});
