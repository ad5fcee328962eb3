import type { IncomingMessage } from 'node:http';
import type { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import type { GraphQLSchema } from 'graphql';
import { consoleCapabilities } from './console/capabilities.js';
import { consoleAssetsDir, consoleRoutes } from './console/console-route.js';
import type { RequestContext } from './core/context.js';
import { stopStatementsOfGoneClients } from './database/client-gone.js';
import { createApolloServer } from './graphql/apollo.js';
import { contextBuilder } from './graphql/context.js';
import { RateLimiter } from './graphql/rate-limit.js';
import { buildTallySchema } from './graphql/schema.js';
import type { Services } from './graphql/services.js';
import { accessLog } from './ops/access-log.js';
import { healthChecks } from './ops/health.js';
import { httpErrorHandler } from './ops/http-errors.js';
import { metricsRoute } from './ops/metrics-route.js';
import { createMetrics } from './ops/metrics.js';
import { requestScope } from './ops/request-id.js';
import { stripeWebhookRoute } from './ops/stripe-webhook.js';

export interface App {
  app: express.Express;
  /** The schema Apollo serves, also served over WebSocket (graphql/live-server.ts). */
  schema: GraphQLSchema;
  apollo: ApolloServer<RequestContext>;
  /** From now on /readyz answers 503, so load balancers stop sending new requests (shutdown). */
  startDraining(): void;
  /** The per-instance request limits, shared with the live (WebSocket) server. */
  rateLimiter: RateLimiter;
  /** A request's client address as Express's `req.ip` gives it (TRUST_PROXY decides), for requests Express never sees. */
  clientAddress(request: IncomingMessage): string;
}

/** The HTTP surface: /graphql, /webhooks/stripe, the operator's /healthz, /readyz and /metrics, and the /console page. */
export async function createApp(services: Services, schema?: GraphQLSchema): Promise<App> {
  const { config, log, orm } = services;
  const metrics = await createMetrics(orm);
  stopStatementsOfGoneClients(orm);
  const rateLimiter = new RateLimiter(config.rateLimit);
  const served = schema ?? (await buildTallySchema());
  const apollo = createApolloServer(services, served, metrics, rateLimiter);
  await apollo.start();

  const app = express();
  app.disable('x-powered-by');
  // GraphQL answers POSTs, which no cache revalidates: hashing every response body for an ETag was wasted CPU.
  app.disable('etag');
  app.set('trust proxy', config.trustProxy);
  app.use(requestScope(), accessLog(log));

  let draining = false;
  const { healthz, readyz } = healthChecks(orm, () => draining);
  app.get('/healthz', healthz);
  app.get('/readyz', readyz);
  app.get('/metrics', metricsRoute(metrics, { token: config.metricsToken, closed: config.isProduction && !config.metricsToken && !config.metricsPublic }));

  // Stripe signs the exact bytes it sent, so this route (and only this one) reads the raw body.
  app.post('/webhooks/stripe', express.raw({ type: '*/*', limit: '256kb' }), stripeWebhookRoute(services, metrics));

  app.use(
    '/graphql',
    rateLimiter.anonymousMiddleware(),
    express.json({ limit: '64kb' }),
    expressMiddleware(apollo, { context: contextBuilder(services, rateLimiter) }),
  );

  // The console is a page like any client's: every action it takes goes through /graphql and its admin checks.
  if (config.consoleEnabled) {
    app.use('/console', consoleRoutes({ assetsDir: consoleAssetsDir(import.meta.dirname), capabilities: consoleCapabilities(served) }));
  }

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(httpErrorHandler(log));
  return {
    app,
    schema: served,
    apollo,
    startDraining: () => {
      draining = true;
    },
    rateLimiter,
    clientAddress: (request) => {
      const view = Object.create(app.request, { app: { value: app }, headers: { value: request.headers }, socket: { value: request.socket } }) as express.Request;
      return view.ip ?? request.socket.remoteAddress ?? 'unknown';
    },
  };
}
