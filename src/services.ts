import type { MikroORM } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { Config } from './config.js';
import type { TokenVerifier } from './graphql/auth.js';
import type { Logger } from './logger.js';

/** Long-lived dependencies, built once per process and shared by every request. */
export interface Services {
  config: Config;
  log: Logger;
  orm: MikroORM;
  verifyToken: TokenVerifier;
  /** Absent when STRIPE_SECRET_KEY is not set: billing operations then answer BILLING_NOT_CONFIGURED. */
  stripe?: Stripe;
}
