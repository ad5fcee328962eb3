import type { ApolloServer } from '@apollo/server';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type Request } from 'express';
import type { GraphQLSchema } from 'graphql';
import { createStripeWebhookHandler } from './billing/webhook.js';
import { Ledger } from './credits/ledger.js';
import { createApolloServer } from './graphql/apollo.js';
import type { Context } from './graphql/context.js';
import { serviceUnavailable, unauthenticated } from './graphql/errors.js';
import { isDatabaseUnavailable } from './database/unavailable.js';
import { createLoaders } from './graphql/loaders.js';
import { buildTallySchema } from './graphql/schema.js';
import { accessLog } from './ops/access-log.js';
import { healthChecks } from './ops/health.js';
import { httpErrorHandler } from './ops/http-errors.js';
import { metricsRoute } from './ops/metrics-route.js';
import { createMetrics } from './ops/metrics.js';
import { requestScope, requestScopeOf } from './ops/request-scope.js';
import type { Services } from './services.js';
import { provisionUser } from './users/provisioning.js';

export interface App {
  app: express.Express;
  apollo: ApolloServer<Context>;
  /** From now on /readyz answers 503, so load balancers stop sending new requests (shutdown). */
  startDraining(): void;
}

function bearerToken(req: Request): string | undefined {
  const header = req.get('authorization');
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw unauthenticated('Authorization header must be "Bearer <token>"');
  return match[1];
}

/** The HTTP surface: /graphql, /webhooks/stripe, and the operator's /healthz, /readyz and /metrics. */
export async function createApp(services: Services, schema?: GraphQLSchema): Promise<App> {
  const { config, log, orm } = services;
  const metrics = await createMetrics(orm);
  const apollo = createApolloServer(services, schema ?? (await buildTallySchema()), metrics);
  await apollo.start();

  const app = express();
  app.disable('x-powered-by');
  // GraphQL answers POSTs, which no cache revalidates: hashing every response body for an ETag was wasted CPU.
  app.disable('etag');
  app.set('trust proxy', false);
  app.use(requestScope(metrics), accessLog(log));

  let draining = false;
  const { healthz, readyz } = healthChecks(orm, () => draining);
  app.get('/healthz', healthz);
  app.get('/readyz', readyz);
  app.get('/metrics', metricsRoute(metrics, config.metricsToken));

  // Stripe signs the exact bytes it sent, so this route (and only this one) reads the raw body.
  app.post('/webhooks/stripe', express.raw({ type: '*/*', limit: '256kb' }), createStripeWebhookHandler(services));

  app.use(
    '/graphql',
    express.json({ limit: '64kb' }),
    expressMiddleware(apollo, {
      context: async ({ req, res }): Promise<Context> => {
        const { requestId } = requestScopeOf(res);
        const em = orm.em.fork();
        const ledger = new Ledger(em, { workshopCreditCost: config.workshopCreditCost, requestId });
        // Every line this logger writes during the request carries its requestId (see logger.ts).
        const context: Context = { em, requestId, log, loaders: createLoaders(em), ledger, services };
        const token = bearerToken(req);
        if (token !== undefined) {
          const identity = await services.verifyToken(token);
          try {
            context.viewer = await provisionUser(em, ledger, identity, config);
          } catch (error) {
            // Errors here fail the whole request before any resolver runs; keep "try again" distinguishable.
            if (isDatabaseUnavailable(error)) throw serviceUnavailable();
            throw error;
          }
        }
        return context;
      },
    }),
  );

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(httpErrorHandler(log));
  return {
    app,
    apollo,
    startDraining: () => {
      draining = true;
    },
  };
}
