import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { forbidden, unauthenticated } from './errors.js';

export const ADMIN_ROLE = 'admin';

/** Who is asking: the user behind the request's verified token. */
export interface Viewer {
  /** The user's id (usr_...). */
  id: string;
  /** The token's `sub`. */
  clerkUserId: string;
  /** From the configuration on every request (ADMIN_USER_IDS), never from what was stored earlier. */
  roles: readonly string[];
}

/** Long-lived dependencies, built once per process and shared by every request. */
export interface AppServices {
  config: Config;
  log: Logger;
  orm: MikroORM;
  /** Absent when STRIPE_SECRET_KEY is not set: billing operations then answer BILLING_NOT_CONFIGURED. */
  stripe?: Stripe;
  /** The committed events of accounts, as they happen on any instance (events/live-events.ts); absent: no live updates. */
  liveEvents?: LiveEventSource;
}

/** An account's events as they are committed anywhere (the outbox, through PostgreSQL LISTEN/NOTIFY). */
export interface LiveEvent {
  accountId: string;
  seq: string;
  type: string;
  payload: Record<string, unknown>;
}

export interface LiveEventSource {
  /** Calls `listener` with each of the account's events from now on; answers the function that stops it. */
  subscribe(accountId: string, listener: (event: LiveEvent) => void): () => void;
}

/**
 * What a resolver is given for one request. It is built by the API edge (graphql/context.ts); features read it but
 * pass their services only what those need (an EntityManager, ids, options), never the context itself.
 */
export interface RequestContext {
  em: EntityManager;
  viewer?: Viewer;
  requestId: string;
  log: Logger;
  services: AppServices;
  /** Objects made once per request (DataLoaders, services), keyed by the function that makes them. */
  readonly perRequest: Map<unknown, unknown>;
}

export function viewerOf(ctx: RequestContext): Viewer {
  if (!ctx.viewer) throw unauthenticated();
  return ctx.viewer;
}

export const isAdmin = (viewer: Viewer | undefined) => viewer?.roles.includes(ADMIN_ROLE) ?? false;

export function requireAdmin(ctx: RequestContext): Viewer {
  const viewer = viewerOf(ctx);
  if (!isAdmin(viewer)) throw forbidden(`Requires the ${ADMIN_ROLE} role`);
  return viewer;
}

/** The request's one instance of what `make` builds (a DataLoader, a service), made on first use. */
export function perRequest<T>(ctx: RequestContext, make: (ctx: RequestContext) => T): T {
  let value = ctx.perRequest.get(make) as T | undefined;
  if (value === undefined) {
    value = make(ctx);
    ctx.perRequest.set(make, value);
  }
  return value;
}
