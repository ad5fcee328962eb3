import type { Server } from 'node:http';
import { MikroORM } from '@mikro-orm/postgresql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print, type GraphQLFormattedError } from 'graphql';
import { createApp } from '../../src/app.js';
import { usePreparedStatements } from '../../src/database/native-query.js';
import { startLiveEvents } from '../../src/events/live-events.js';
import { attachLiveServer } from '../../src/graphql/live-server.js';
import { syncPlans } from '../../src/billing/plans.js';
import { createStripeClient } from '../../src/billing/stripe.js';
import { startWebhookWorkers } from '../../src/events/webhook-workers.js';
import type { HostResolver } from '../../src/events/network-guard.js';
import { loadConfig, type Config } from '../../src/config.js';
import { ormOptions } from '../../src/orm.js';
import { createTokenVerifier } from '../../src/graphql/auth.js';
import { createLogger } from '../../src/logger.js';
import type { Services } from '../../src/graphql/services.js';
import { createTestDatabase, sqlPool } from './database.js';
import { TEST_JWT_SECRET, tokenFor } from './tokens.js';

export interface GraphQLResponse<T> {
  data?: T | null;
  errors?: GraphQLFormattedError[];
  status: number;
}

export interface ApiClient {
  execute<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    ...variables: TVariables extends Record<string, never> ? [] : [TVariables]
  ): Promise<GraphQLResponse<TData>>;
  /** An untyped request, for malformed queries and abuse tests. */
  raw(body: unknown, headers?: Record<string, string>): Promise<GraphQLResponse<Record<string, unknown>>>;
}

export interface TestServer {
  url: string;
  databaseUrl: string;
  orm: MikroORM;
  config: Config;
  sql: ReturnType<typeof sqlPool>;
  /** A client sending requests as `subject` (a token is signed for it), or anonymously with no subject. */
  as(subject?: string, claims?: Record<string, unknown>): ApiClient;
  /** A client sending this exact Authorization header value. */
  withAuthorization(header: string): ApiClient;
  /** What main.ts does first on SIGTERM: /readyz turns 503 while requests under way finish. */
  startDraining(): void;
  close(): Promise<void>;
}

export interface TestServerOptions {
  env?: Record<string, string>;
  databaseUrl?: string;
  /** Sees every SQL statement the server's ORM sends, as written and as sent (instrumentation for statement tests). */
  onQuery?: (sql: string, sent: string) => void;
  /** How the webhook workers resolve endpoint host names (the system's resolver by default). */
  resolver?: HostResolver;
}

/** The real server (Express + Apollo + MikroORM) on a fresh database clone, listening on a random port. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const databaseUrl = options.databaseUrl ?? (await createTestDatabase());
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    DATABASE_URL: databaseUrl,
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...options.env,
  });
  const orm = await MikroORM.init(
    ormOptions({ clientUrl: databaseUrl, poolMax: config.database.poolSize, statementTimeoutMs: config.database.statementTimeoutMs, onQuery: options.onQuery }),
  );
  const log = createLogger(config.logLevel);
  usePreparedStatements(orm, config.database.preparedStatements);
  await syncPlans(orm.em.fork(), config.credits, log);
  const services: Services = {
    config,
    log,
    orm,
    verifyToken: createTokenVerifier(config.auth),
    stripe: createStripeClient(config.stripe),
  };
  // As main.ts: LISTEN straight to PostgreSQL when DATABASE_DIRECT_URL names it (the test's pooler in databaseUrl).
  const liveEvents = await startLiveEvents(orm, services.log, config.database.directUrl ?? databaseUrl);
  services.liveEvents = liveEvents;
  const { app, apollo, startDraining, schema, rateLimiter, clientAddress } = await createApp(services);
  // As main.ts does once serving (off unless the test sets WEBHOOK_WORKER_INTERVAL_MS).
  const webhookWorkers = startWebhookWorkers({ orm, log: services.log, config: config.webhooks, resolver: options.resolver });
  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const liveServer = attachLiveServer(server, services, schema, { rateLimiter, clientAddress });
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const sql = sqlPool(databaseUrl);

  const client = (authorization?: () => Promise<string | undefined>): ApiClient => {
    const post = async (body: unknown, headers: Record<string, string> = {}) => {
      const auth = await authorization?.();
      const response = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}), ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await response.text();
      let json: { data?: unknown; errors?: GraphQLFormattedError[] } = {};
      try {
        json = JSON.parse(text);
      } catch {
        json = { errors: [{ message: text }] };
      }
      return { ...json, status: response.status } as GraphQLResponse<never>;
    };
    return {
      execute: (document, ...variables) => post({ query: print(document), variables: variables[0] ?? {} }),
      raw: (body, headers) => post(body, headers),
    };
  };

  return {
    url,
    databaseUrl,
    orm,
    config,
    sql,
    startDraining,
    as: (subject, claims) => client(subject === undefined ? undefined : async () => `Bearer ${await tokenFor(subject, claims)}`),
    withAuthorization: (header) => client(async () => header),
    async close() {
      await liveServer.close();
      await liveEvents.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await apollo.stop();
      await webhookWorkers.stop();
      await orm.close();
      await sql.end();
    },
  };
}
