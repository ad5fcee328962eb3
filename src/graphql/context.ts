import type { EntityManager } from '@mikro-orm/postgresql';
import type { Logger } from '../logger.js';
import type { Ledger } from '../credits/ledger.js';
import type { User } from '../users/user.entity.js';
import type { Services } from '../services.js';
import type { Loaders } from './loaders.js';
import { unauthenticated } from './errors.js';

/** Everything a resolver may use, built fresh for each request. */
export interface Context {
  em: EntityManager;
  viewer?: User;
  requestId: string;
  log: Logger;
  loaders: Loaders;
  ledger: Ledger;
  services: Services;
}

export function viewerOf(ctx: Context): User {
  if (!ctx.viewer) throw unauthenticated();
  return ctx.viewer;
}
