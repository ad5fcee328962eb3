import 'reflect-metadata';
import type { Server } from 'node:http';
import { createApp } from './app.js';
import { usePreparedStatements } from './database/native-query.js';
import { startLiveEvents } from './events/live-events.js';
import { attachLiveServer } from './graphql/live-server.js';
import { syncPlans } from './billing/plans.js';
import { startRechargeWorker } from './billing/recharge-worker.js';
import { createStripeClient } from './billing/stripe.js';
import { ConfigError, DEVELOPMENT_ADMIN_SUBJECT, loadConfig, type Config } from './config.js';
import { startCreditJobs } from './credits/credit-jobs.js';
import { openDatabase } from './database/database.js';
import { ensureDevelopmentSecret } from './dev-secret.js';
import { startWebhookWorkers } from './events/webhook-workers.js';
import { createTokenVerifier, issueHs256Token } from './graphql/auth.js';
import type { Services } from './graphql/services.js';
import { createLogger, type Logger } from './logger.js';
import { ormOptions } from './orm.js';
import { seedIfEmpty } from './seed.js';
import { DEMO_USER } from '../seeders/demo-data.js';

const SHUTDOWN_GRACE_MS = 10_000;

/** Set while starting: stops what start-up already opened (the embedded cluster above all) if a later step fails. */
let closeOnFailure: (() => Promise<void>) | undefined;

/**
 * A signal during start-up lets the step under way finish (stopping initdb or a migration halfway helps nobody),
 * then start-up stops and closes what it opened. Once serving, `shutdown` below takes over.
 */
let interrupted: string | undefined;
let onSignal = (signal: string) => {
  if (interrupted) process.exit(1);
  interrupted = signal;
  process.stderr.write(`tally: ${signal} during start-up; stopping after the current step\n`);
};
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));

function checkInterrupted() {
  if (interrupted) throw new Error(`interrupted by ${interrupted}`);
}

async function banner(config: Config, url: string, log: Logger) {
  const lines = [`Tally is ready: ${url}/graphql${config.isProduction ? '' : '  (Apollo Sandbox in the browser)'}`];
  if (!config.isProduction && config.auth.jwtSecret) {
    const token = await issueHs256Token(config.auth.jwtSecret, DEMO_USER.clerkUserId, {
      email: DEMO_USER.email,
      given_name: DEMO_USER.firstName,
    });
    lines.push(`Demo user ${DEMO_USER.clerkUserId}; paste this header into Sandbox's Headers tab:`, `  Authorization: Bearer ${token}`);
    const [admin] = config.adminUserIds;
    if (config.consoleEnabled && admin !== undefined) {
      // The fragment never reaches a server or a log: the page moves the token into sessionStorage and drops it.
      const adminToken = await issueHs256Token(config.auth.jwtSecret, admin, admin === DEVELOPMENT_ADMIN_SUBJECT ? { email: 'admin@example.com', given_name: 'Ada' } : {});
      lines.push(`Support console, signed in as the admin ${admin}:`, `  ${url}/console/#token=${adminToken}`);
    }
  }
  lines.push(`Probes: ${url}/healthz ${url}/readyz   Metrics: ${url}/metrics`, 'Stop with Ctrl-C.');
  log.info({ url: `${url}/graphql` }, 'ready');
  process.stderr.write(`\n${lines.join('\n')}\n\n`);
}

async function main() {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`tally: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const log = createLogger(config.logLevel);
  config = await ensureDevelopmentSecret(config);
  log.info({ env: config.env, port: config.port, database: config.databaseUrl ? 'DATABASE_URL' : `embedded in ${config.dataDir}` }, 'starting');

  const database = await openDatabase(config, log, (clientUrl, options) => ormOptions({ clientUrl, ...options }));
  closeOnFailure = () => database.close();
  checkInterrupted();
  usePreparedStatements(database.orm, config.database.preparedStatements);
  await syncPlans(database.orm.em.fork(), config.credits, log);
  if (database.target.embedded) await seedIfEmpty(database.orm, config, log);
  checkInterrupted();

  const services: Services = {
    config,
    log,
    orm: database.orm,
    verifyToken: createTokenVerifier(config.auth),
    stripe: createStripeClient(config.stripe),
  };
  if (!services.stripe) log.warn('STRIPE_SECRET_KEY is not set: createCheckoutSession answers BILLING_NOT_CONFIGURED');
  // Committed events of every instance, for live balance subscriptions (LISTEN on a connection of its own, straight
  // to PostgreSQL: DATABASE_DIRECT_URL when a pooler is in DATABASE_URL).
  const liveEvents = await startLiveEvents(database.orm, log, database.directUrl);
  services.liveEvents = liveEvents;
  const { app, apollo, startDraining, schema, rateLimiter, clientAddress } = await createApp(services);

  const server: Server = await new Promise((resolve, reject) => {
    const listening = app.listen(config.port, (error?: Error) => (error ? reject(error) : resolve(listening)));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const liveServer = attachLiveServer(server, services, schema, { rateLimiter, clientAddress });
  closeOnFailure = async () => {
    server.close();
    await liveServer.close();
    await liveEvents.stop();
    await apollo.stop();
    await database.close();
  };
  checkInterrupted();
  await banner(config, `http://localhost:${port}`, log);
  closeOnFailure = undefined;
  // Expiry of holds and grants, and monthly plan allowances; every instance runs it, safely (see credit-jobs.ts).
  const creditJobs = startCreditJobs({
    orm: database.orm,
    log,
    intervalSeconds: config.credits.sweepIntervalSeconds,
  });
  // Outgoing webhooks: every instance fans out events and sends due attempts, safely (see events/webhook-workers.ts).
  const webhookWorkers = startWebhookWorkers({ orm: database.orm, log, config: config.webhooks });
  // Auto-recharge attempts recorded by postings are sent to Stripe here, outside any transaction (recharge-worker.ts).
  const rechargeWorker = startRechargeWorker({
    orm: database.orm,
    stripe: services.stripe,
    log,
    intervalMs: config.credits.autoRechargeIntervalMs,
    ledger: { workshopCreditCost: config.workshopCreditCost },
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'shutting down: finishing in-flight requests');
    startDraining();
    await liveServer.close();
    await liveEvents.stop();
    const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    clearTimeout(force);
    await apollo.stop();
    await creditJobs.stop();
    await webhookWorkers.stop();
    await rechargeWorker.stop();
    await database.close();
    log.info('stopped');
    process.exit(0);
  };
  onSignal = (signal) => void shutdown(signal);
}

main().catch(async (error: unknown) => {
  process.stderr.write(`tally: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  await closeOnFailure?.().catch(() => undefined);
  process.exit(1);
});
