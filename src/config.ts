import { isIP } from 'node:net';
import path from 'node:path';

/** Thrown for an invalid environment variable; main prints its message as one line and exits. */
export class ConfigError extends Error {
  constructor(readonly variable: string, problem: string) {
    super(`Invalid ${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

export interface AuthConfig {
  /** HS256 shared secret (development and tests). */
  jwtSecret?: string;
  /** RS256 through a JWKS endpoint (e.g. Clerk). */
  jwksUrl?: string;
  issuer?: string;
  /** Checked against the token's `aud` when set (AUTH_AUDIENCE, comma-separated for several). */
  audience?: string[];
  /** Clerk's `azp`: when set, a token naming another origin is refused (AUTH_AUTHORIZED_PARTIES). */
  authorizedParties?: string[];
  /** True when the secret was generated and kept in DATA_DIR rather than configured. */
  generatedSecret: boolean;
}

export interface StripeConfig {
  secretKey: string;
  webhookSecret?: string;
  apiBase?: URL;
}

export interface DatabaseConfig {
  /** statement_timeout of the serving pool's connections, in ms; 0 turns it off (DATABASE_STATEMENT_TIMEOUT_MS). */
  statementTimeoutMs: number;
  /**
   * The hot statements as named, server-side prepared statements (DATABASE_PREPARED_STATEMENTS, default true). Turn it
   * off behind a transaction pooler that cannot keep them (PgBouncer before 1.21 in transaction mode).
   */
  preparedStatements: boolean;
  /**
   * Connections in the serving pool (DATABASE_POOL_SIZE, 20 by default). Requests beyond it wait in the process for a
   * free connection; on a small database server fewer connections than requests in flight often serve more.
   */
  poolSize: number;
  /**
   * A connection straight to PostgreSQL for what a transaction pooler (PgBouncer) in DATABASE_URL cannot carry: the
   * LISTEN of live updates, and the migrations at start-up (DATABASE_DIRECT_URL). Unset: DATABASE_URL serves both.
   */
  directUrl?: string;
}

export interface RateLimitConfig {
  /** Mutations a user may run per minute on one instance; 0 turns the limit off. */
  mutationsPerMinute: number;
  /** How many mutations a user may run back to back before the per-minute rate applies. */
  burst: number;
  /** Queries (requests) a user may send per minute on one instance; 0 turns the limit off. */
  queriesPerMinute: number;
  queryBurst: number;
  /** Requests without a valid token per client address per minute on one instance; 0 turns the limit off. */
  anonymousPerMinute: number;
  anonymousBurst: number;
}

export interface Config {
  env: 'development' | 'production' | 'test';
  isProduction: boolean;
  port: number;
  databaseUrl?: string;
  database: DatabaseConfig;
  dataDir: string;
  auth: AuthConfig;
  adminUserIds: ReadonlySet<string>;
  /**
   * How long a process remembers a token subject's user id, so that requests skip the viewer lookup
   * (VIEWER_CACHE_SECONDS, 300 by default, as long as a verified token is remembered; 0: look up every request). It
   * bounds how long a user deleted in the database is served.
   */
  viewerCacheSeconds: number;
  starterCredits: number;
  workshopCreditCost: number;
  /** What one user can pile up for free (MAX_OPEN_RESERVATIONS, MAX_WORKSHOPS). */
  limits: { openReservations: number; workshops: number };
  stripe?: StripeConfig;
  appUrl: string;
  /** Origins Checkout may send a buyer back to: APP_URL's and CHECKOUT_REDIRECT_ORIGINS. */
  checkoutRedirectOrigins: ReadonlySet<string>;
  logLevel: string;
  rateLimit: RateLimitConfig;
  /** Express's `trust proxy`: how a client's address is read behind load balancers (TRUST_PROXY). */
  trustProxy: boolean | number | string[];
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  metricsToken?: string;
  /** Production serves /metrics without a token only when this is set (METRICS_PUBLIC=true). */
  metricsPublic: boolean;
  credits: CreditJobsConfig;
  webhooks: WebhookConfig;
  /** Whether /console (the support console) is served: on by default, in production only with CONSOLE_ENABLED=true. */
  consoleEnabled: boolean;
}

export interface WebhookConfig {
  /** How often each instance looks for events to fan out and deliveries that are due, in ms; 0 turns delivery off. */
  workerIntervalMs: number;
  /** How long one attempt may take (address lookup, connection, response), in ms; slower is a failed attempt. */
  timeoutMs: number;
  /** The first retry's delay, in ms; later retries are fixed multiples of it (events/retry-schedule.ts). */
  retryBaseMs: number;
  /** Attempts one instance sends at once. */
  concurrency: number;
  /** Attempts to one endpoint in flight at once (across instances, as far as their claims see each other). */
  endpointConcurrency: number;
  /** Endpoints on loopback, private, link-local and other special-use addresses are allowed (tests, internal receivers). */
  allowPrivateNetworks: boolean;
  /** Endpoint URLs must be https: (always in production). */
  requireHttps: boolean;
  /** Live balance subscriptions (WebSocket) one user may hold open on an instance (LIVE_MAX_CONNECTIONS_PER_USER). */
  liveConnectionsPerUser: number;
  /** Subscriptions one live socket may hold at once (LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION). */
  liveSubscriptionsPerConnection: number;
}

export interface CreditJobsConfig {
  /** How often each instance sweeps lapsed holds and grants and grants plan allowances; 0 turns the loop off. */
  sweepIntervalSeconds: number;
  /**
   * Monthly credits by plan (PLAN_ALLOWANCES=free:3,pro:50), written to the plans table at start (billing/plans.ts):
   * the way to seed or change a plan's credits from the environment. Empty: the plans table as it is.
   */
  planAllowances: ReadonlyMap<string, number>;
  /** The rollover cap written with PLAN_ALLOWANCES to each plan it lists. */
  allowanceRolloverCap: number;
  /** The recurring Stripe Price of each plan (PLAN_PRICES=pro:price_...,team:price_...), written to the plans table at start. */
  planPrices: ReadonlyMap<string, string>;
  /** How often each instance sends due auto-recharge attempts to Stripe (AUTO_RECHARGE_INTERVAL_MS); 0 turns it off. */
  autoRechargeIntervalMs: number;
}

type Env = Record<string, string | undefined>;

const blankToUndefined = (value: string | undefined) => (value === undefined || value.trim() === '' ? undefined : value.trim());

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = blankToUndefined(env[name]);
  if (raw === undefined) return fallback;
  if (!/^-?\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(name, `expected ${min}..${max}, got ${value}`);
  return value;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = blankToUndefined(env[name]);
  if (raw === undefined) return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(name, `expected true or false, got "${raw}"`);
}

function url(env: Env, name: string, protocols: string[]): URL | undefined {
  const raw = blankToUndefined(env[name]);
  if (raw === undefined) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    // A connection string that fails to parse can still hold a password; keep it out of logs.
    const shown = /:[^/]*@/.test(raw) ? 'a value with credentials (not shown)' : `"${raw}"`;
    throw new ConfigError(name, `expected a URL, got ${shown}`);
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `expected a ${protocols.join(' or ')} URL, got "${parsed.protocol}"`);
  }
  return parsed;
}

function nodeEnv(env: Env): Config['env'] {
  const raw = blankToUndefined(env.NODE_ENV) ?? 'development';
  if (raw === 'development' || raw === 'production' || raw === 'test') return raw;
  throw new ConfigError('NODE_ENV', `expected development, production or test, got "${raw}"`);
}

const list = (env: Env, name: string): string[] | undefined => {
  const values = (env[name] ?? '')
    .split(',')
    .map((value) => value.trim())
    .filter(Boolean);
  return values.length > 0 ? values : undefined;
};

/** An origin (`https://app.example.com`), as browsers send and compare them. */
function origin(name: string, value: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(name, `expected origins like https://app.example.com, got "${value}"`);
  }
  if ((parsed.protocol !== 'https:' && parsed.protocol !== 'http:') || parsed.origin !== value.replace(/\/$/, '')) {
    throw new ConfigError(name, `expected origins like https://app.example.com (scheme, host and port only), got "${value}"`);
  }
  return parsed.origin;
}

function authConfig(env: Env, isProduction: boolean): AuthConfig {
  const jwtSecret = blankToUndefined(env.AUTH_JWT_SECRET);
  const jwksUrl = url(env, 'AUTH_JWKS_URL', isProduction ? ['https:'] : ['https:', 'http:']);
  const issuer = blankToUndefined(env.AUTH_ISSUER);
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret) < 32) {
    throw new ConfigError('AUTH_JWT_SECRET', 'must be at least 32 bytes for HS256');
  }
  if (jwksUrl && !issuer) throw new ConfigError('AUTH_ISSUER', 'required when AUTH_JWKS_URL is set');
  const authorizedParties = list(env, 'AUTH_AUTHORIZED_PARTIES')?.map((party) => origin('AUTH_AUTHORIZED_PARTIES', party));
  return { jwtSecret, jwksUrl: jwksUrl?.toString(), issuer, audience: list(env, 'AUTH_AUDIENCE'), authorizedParties, generatedSecret: false };
}

function stripeConfig(env: Env): StripeConfig | undefined {
  const secretKey = blankToUndefined(env.STRIPE_SECRET_KEY);
  const webhookSecret = blankToUndefined(env.STRIPE_WEBHOOK_SECRET);
  const apiBase = url(env, 'STRIPE_API_BASE', ['http:', 'https:']);
  // Checked first: a webhook-only set-up (no secret key) must not accept a malformed secret either.
  if (webhookSecret !== undefined && !webhookSecret.startsWith('whsec_')) {
    throw new ConfigError('STRIPE_WEBHOOK_SECRET', 'expected a webhook signing secret (whsec_...)');
  }
  if (secretKey === undefined) {
    if (apiBase) throw new ConfigError('STRIPE_SECRET_KEY', 'required when STRIPE_API_BASE is set');
    return webhookSecret ? { secretKey: '', webhookSecret } : undefined;
  }
  if (!/^(sk|rk)_(test|live)_\w+$/.test(secretKey)) {
    throw new ConfigError('STRIPE_SECRET_KEY', 'expected a Stripe secret key (sk_test_..., sk_live_... or rk_...)');
  }
  return { secretKey, webhookSecret, apiBase };
}

function rateLimitConfig(env: Env, nodeEnvValue: Config['env']): RateLimitConfig {
  // Tests drive many requests from one user as fast as they can; a test that needs a limit sets it.
  const perMinute = (name: string, fallback: number) => integer(env, name, nodeEnvValue === 'test' ? 0 : fallback, 0, 1_000_000);
  const burst = (name: string, rate: number, fallback: number) => integer(env, name, Math.max(1, Math.min(fallback, rate)), 1, 1_000_000);
  const mutationsPerMinute = perMinute('RATE_LIMIT_MUTATIONS_PER_MINUTE', 600);
  const queriesPerMinute = perMinute('RATE_LIMIT_QUERIES_PER_MINUTE', 1200);
  const anonymousPerMinute = perMinute('RATE_LIMIT_ANONYMOUS_PER_MINUTE', 300);
  return {
    mutationsPerMinute,
    burst: burst('RATE_LIMIT_MUTATION_BURST', mutationsPerMinute, 120),
    queriesPerMinute,
    queryBurst: burst('RATE_LIMIT_QUERY_BURST', queriesPerMinute, 240),
    anonymousPerMinute,
    anonymousBurst: burst('RATE_LIMIT_ANONYMOUS_BURST', anonymousPerMinute, 60),
  };
}

/**
 * Express's `trust proxy` (TRUST_PROXY): which hops' X-Forwarded-For to believe when working out a client's
 * address. Off by default (the address is the peer's); behind a load balancer set the number of proxies in front
 * (`1`), or their addresses and subnets (`10.0.0.0/8, loopback`). `true` trusts every hop, which any client can
 * forge: use it only where the proxy strips the header.
 */
function trustProxy(env: Env): boolean | number | string[] {
  const raw = blankToUndefined(env.TRUST_PROXY);
  if (raw === undefined || raw === 'false') return false;
  if (raw === 'true') return true;
  if (/^\d{1,2}$/.test(raw)) return Number(raw);
  const entries = raw.split(',').map((entry) => entry.trim()).filter(Boolean);
  const named = new Set(['loopback', 'linklocal', 'uniquelocal']);
  for (const entry of entries) {
    const [address, bits, extra] = entry.split('/');
    const validBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (isIP(address ?? '') === 6 ? 128 : 32));
    if (!(named.has(entry) || (isIP(address ?? '') !== 0 && validBits && extra === undefined))) {
      throw new ConfigError('TRUST_PROXY', `expected false, true, a number of hops, or addresses/subnets like "10.0.0.0/8, loopback", got "${entry}"`);
    }
  }
  return entries;
}

function metricsToken(env: Env): string | undefined {
  const token = blankToUndefined(env.METRICS_TOKEN);
  if (token !== undefined && token.length < 16) throw new ConfigError('METRICS_TOKEN', 'must be at least 16 characters');
  return token;
}

function planAllowances(env: Env): Map<string, number> {
  const raw = blankToUndefined(env.PLAN_ALLOWANCES);
  const allowances = new Map<string, number>();
  if (raw === undefined) return allowances;
  for (const entry of raw.split(',').map((part) => part.trim()).filter(Boolean)) {
    const match = /^([a-z0-9_-]{1,32}):(\d{1,7})$/.exec(entry);
    if (!match) throw new ConfigError('PLAN_ALLOWANCES', `expected tier:credits pairs like "free:3,pro:50", got "${entry}"`);
    const [, tier, credits] = match as unknown as [string, string, string];
    if (allowances.has(tier)) throw new ConfigError('PLAN_ALLOWANCES', `tier "${tier}" is listed twice`);
    if (Number(credits) > 1_000_000) throw new ConfigError('PLAN_ALLOWANCES', `expected at most 1000000 credits for "${tier}"`);
    allowances.set(tier, Number(credits));
  }
  return allowances;
}

/**
 * Admin rights come from ADMIN_USER_IDS alone. Left unset in development on the embedded database, the seeded demo
 * admin (`user_admin`) is the one admin, so the console's sign-in link works out of the box; never with a
 * DATABASE_URL or in production.
 */
export const DEVELOPMENT_ADMIN_SUBJECT = 'user_admin';
const developmentAdmins = (nodeEnvValue: Config['env'], databaseUrl: string | undefined): string[] =>
  nodeEnvValue === 'development' && databaseUrl === undefined ? [DEVELOPMENT_ADMIN_SUBJECT] : [];

function planPrices(env: Env): Map<string, string> {
  const prices = new Map<string, string>();
  for (const entry of list(env, 'PLAN_PRICES') ?? []) {
    const match = /^([a-z0-9_-]{1,32}):(price_[A-Za-z0-9_]{1,100})$/.exec(entry);
    if (!match) throw new ConfigError('PLAN_PRICES', `expected plan:price pairs like "pro:price_1Abc,team:price_2Def", got "${entry}"`);
    const [, plan, price] = match as unknown as [string, string, string];
    if (prices.has(plan)) throw new ConfigError('PLAN_PRICES', `plan "${plan}" is listed twice`);
    if ([...prices.values()].includes(price)) throw new ConfigError('PLAN_PRICES', `price "${price}" is listed for two plans`);
    prices.set(plan, price);
  }
  return prices;
}

/** The only reader of process.env. Every value is validated; the first bad one throws a ConfigError. */
export function loadConfig(env: Env = process.env): Config {
  const nodeEnvValue = nodeEnv(env);
  const port = integer(env, 'PORT', 4000, 0, 65535);
  const databaseUrl = url(env, 'DATABASE_URL', ['postgres:', 'postgresql:'])?.toString();
  const dataDir = path.resolve(blankToUndefined(env.DATA_DIR) ?? '.data');
  const auth = authConfig(env, nodeEnvValue === 'production');
  const adminUserIds = new Set(list(env, 'ADMIN_USER_IDS') ?? developmentAdmins(nodeEnvValue, databaseUrl));
  const appUrl = url(env, 'APP_URL', ['http:', 'https:'])?.toString().replace(/\/$/, '') ?? `http://localhost:${port}`;
  const checkoutRedirectOrigins = new Set([
    new URL(appUrl).origin,
    ...(list(env, 'CHECKOUT_REDIRECT_ORIGINS') ?? []).map((value) => origin('CHECKOUT_REDIRECT_ORIGINS', value)),
  ]);
  const logLevel = blankToUndefined(env.LOG_LEVEL) ?? (nodeEnvValue === 'test' ? 'silent' : 'info');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `expected fatal, error, warn, info, debug, trace or silent, got "${logLevel}"`);
  }
  const config: Config = {
    env: nodeEnvValue,
    isProduction: nodeEnvValue === 'production',
    port,
    databaseUrl,
    database: {
      statementTimeoutMs: integer(env, 'DATABASE_STATEMENT_TIMEOUT_MS', 5_000, 0, 3_600_000),
      preparedStatements: boolean(env, 'DATABASE_PREPARED_STATEMENTS', true),
      poolSize: integer(env, 'DATABASE_POOL_SIZE', 20, 1, 1000),
      directUrl: url(env, 'DATABASE_DIRECT_URL', ['postgres:', 'postgresql:'])?.toString(),
    },
    dataDir,
    auth,
    adminUserIds,
    viewerCacheSeconds: integer(env, 'VIEWER_CACHE_SECONDS', 300, 0, 3_600),
    starterCredits: integer(env, 'STARTER_CREDITS', 0, 0, 1_000_000),
    workshopCreditCost: integer(env, 'WORKSHOP_CREDIT_COST', 1, 1, 1_000_000),
    limits: {
      openReservations: integer(env, 'MAX_OPEN_RESERVATIONS', 1_000, 1, 1_000_000),
      workshops: integer(env, 'MAX_WORKSHOPS', 10_000, 1, 10_000_000),
    },
    stripe: stripeConfig(env),
    appUrl,
    checkoutRedirectOrigins,
    logLevel,
    rateLimit: rateLimitConfig(env, nodeEnvValue),
    trustProxy: trustProxy(env),
    metricsToken: metricsToken(env),
    metricsPublic: boolean(env, 'METRICS_PUBLIC', false),
    credits: {
      sweepIntervalSeconds: integer(env, 'SWEEP_INTERVAL_SECONDS', 30, 0, 86_400),
      planAllowances: planAllowances(env),
      allowanceRolloverCap: integer(env, 'PLAN_ALLOWANCE_ROLLOVER_CAP', 0, 0, 1_000_000),
      planPrices: planPrices(env),
      autoRechargeIntervalMs: integer(env, 'AUTO_RECHARGE_INTERVAL_MS', 1_000, 0, 3_600_000),
    },
    webhooks: {
      // Off by default under test, where statement-counting tests would see the workers' polling; tests of delivery set it.
      workerIntervalMs: integer(env, 'WEBHOOK_WORKER_INTERVAL_MS', nodeEnvValue === 'test' ? 0 : 1_000, 0, 3_600_000),
      liveConnectionsPerUser: integer(env, 'LIVE_MAX_CONNECTIONS_PER_USER', 10, 1, 1_000),
      liveSubscriptionsPerConnection: integer(env, 'LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION', 20, 1, 1_000),
      timeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 60_000),
      retryBaseMs: integer(env, 'WEBHOOK_RETRY_BASE_MS', 5_000, 1, 3_600_000),
      concurrency: integer(env, 'WEBHOOK_CONCURRENCY', 16, 1, 256),
      endpointConcurrency: integer(env, 'WEBHOOK_ENDPOINT_CONCURRENCY', 4, 1, 256),
      allowPrivateNetworks: boolean(env, 'WEBHOOK_ALLOW_PRIVATE_NETWORKS', false),
      requireHttps: nodeEnvValue === 'production',
    },
    consoleEnabled: boolean(env, 'CONSOLE_ENABLED', nodeEnvValue !== 'production'),
  };
  if (config.isProduction && !auth.jwtSecret && !auth.jwksUrl) {
    throw new ConfigError('AUTH_JWKS_URL', 'production needs AUTH_JWKS_URL + AUTH_ISSUER or AUTH_JWT_SECRET');
  }
  if (config.isProduction && !databaseUrl) {
    throw new ConfigError('DATABASE_URL', 'production needs a real PostgreSQL (the embedded one is for development)');
  }
  if (config.database.directUrl && !databaseUrl) {
    throw new ConfigError('DATABASE_DIRECT_URL', 'only with DATABASE_URL (the embedded database is always connected to directly)');
  }
  return config;
}
