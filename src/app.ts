import { randomUUID } from 'node:crypto';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type Request } from 'express';
import type { GraphQLSchema } from 'graphql';
import { Ledger } from './credits/ledger.js';
import type { Context } from './graphql/context.js';
import { createErrorFormatter } from './graphql/format-error.js';
import { createLoaders } from './graphql/loaders.js';
import { buildTallySchema } from './graphql/schema.js';
import { unauthenticated } from './graphql/errors.js';
import type { Services } from './services.js';
import { provisionUser } from './users/provisioning.js';
import { createStripeWebhookHandler } from './billing/webhook.js';

export interface App {
  app: express.Express;
  apollo: ApolloServer<Context>;
}

const REQUEST_ID = /^[\w.:-]{1,100}$/;

function requestIdOf(req: Request): string {
  const header = req.get('x-request-id');
  return header && REQUEST_ID.test(header) ? header : randomUUID();
}

function bearerToken(req: Request): string | undefined {
  const header = req.get('authorization');
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw unauthenticated('Authorization header must be "Bearer <token>"');
  return match[1];
}

/** The HTTP surface: /graphql, /webhooks/stripe and /healthz, nothing else. */
export async function createApp(services: Services, schema?: GraphQLSchema): Promise<App> {
  const { config, log, orm } = services;
  const apollo = new ApolloServer<Context>({
    schema: schema ?? (await buildTallySchema()),
    introspection: !config.isProduction,
    includeStacktraceInErrorResponses: false,
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    // main.ts owns shutdown: drain HTTP first, then Apollo, then the database.
    stopOnTerminationSignals: false,
    formatError: createErrorFormatter(log, !config.isProduction),
    plugins: [
      config.isProduction ? ApolloServerPluginLandingPageDisabled() : ApolloServerPluginLandingPageLocalDefault({ embed: true }),
    ],
  });
  await apollo.start();

  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);

  app.get('/healthz', async (_req, res) => {
    try {
      await orm.em.getConnection().execute('select 1');
      res.json({ status: 'ok' });
    } catch {
      res.status(503).json({ status: 'unavailable', reason: 'database unreachable' });
    }
  });

  // Stripe signs the exact bytes it sent, so this route (and only this one) reads the raw body.
  app.post('/webhooks/stripe', express.raw({ type: '*/*', limit: '256kb' }), createStripeWebhookHandler(services));

  app.use(
    '/graphql',
    express.json({ limit: '64kb' }),
    expressMiddleware(apollo, {
      context: async ({ req, res }): Promise<Context> => {
        const requestId = requestIdOf(req);
        res.setHeader('x-request-id', requestId);
        const em = orm.em.fork();
        const requestLog = log.child({ requestId });
        const ledger = new Ledger(em, { workshopCreditCost: config.workshopCreditCost, requestId });
        const context: Context = { em, requestId, log: requestLog, loaders: createLoaders(em), ledger, services };
        const token = bearerToken(req);
        if (token !== undefined) {
          const identity = await services.verifyToken(token);
          context.viewer = await provisionUser(em, ledger, identity, config);
        }
        return context;
      },
    }),
  );

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  return { app, apollo };
}
