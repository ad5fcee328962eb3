import type { Request, Response } from 'express';
import { perRequest, type RequestContext } from '../core/context.js';
import { DomainError, serviceUnavailable, unauthenticated } from '../core/errors.js';
import { ledgerOf } from '../credits/ledger-of.js';
import { isDatabaseUnavailable } from '../database/pg-errors.js';
import { provisionUser } from '../identity/provisioning.js';
import { ViewerCache } from '../identity/viewer-cache.js';
import { rolesFor } from '../users/roles.js';
import { requestScopeOf } from '../ops/request-id.js';
import type { Services } from './services.js';
import { usersById } from '../users/user-loader.js';
import { toGraphQLError } from './errors.js';
import type { RateLimiter } from './rate-limit.js';

function bearerToken(req: Request): string | undefined {
  const header = req.get('authorization');
  if (header === undefined) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match) throw unauthenticated('Authorization header must be "Bearer <token>"');
  return match[1];
}

/**
 * A request's context whose EntityManager is forked on first use: the hot paths that send their own statements never
 * need one. The getter lives on the prototype, so the copy Apollo makes of the context for each operation
 * (Object.assign onto an object of the same prototype) keeps it lazy, and a fork made on either copy is kept on it.
 */
class LazyContext implements RequestContext {
  viewer?: RequestContext['viewer'];
  readonly perRequest = new Map<unknown, unknown>();
  private forked: RequestContext['em'] | undefined;

  constructor(
    private readonly orm: Services['orm'],
    readonly requestId: string,
    readonly log: RequestContext['log'],
    readonly services: RequestContext['services'],
  ) {}

  get em(): RequestContext['em'] {
    return (this.forked ??= this.orm.em.fork());
  }
}

/**
 * Builds a request's context: a fresh EntityManager fork (made when first used), and the verified viewer
 * (provisioned on their first request). Errors here fail the whole request before any resolver runs, so they are
 * turned into GraphQL errors with their HTTP status here.
 */
export function contextBuilder(services: Services, rateLimiter: RateLimiter) {
  const { config, log, orm } = services;
  const viewers = new ViewerCache(config.viewerCacheSeconds * 1000);
  return async ({ req, res }: { req: Request; res: Response }): Promise<RequestContext> => {
    const { requestId } = requestScopeOf(res);
    const context: RequestContext = new LazyContext(orm, requestId, log, services);
    try {
      const token = bearerToken(req);
      if (token === undefined) return context;
      const identity = await services.verifyToken(token).catch((error: unknown) => {
        // A token that does not verify counts against its address, like no token at all: guessing is rate-limited.
        rateLimiter.takeForAddress(req.ip ?? 'unknown');
        throw error;
      });
      // Roles come from the configuration on every request, cached viewer or not.
      const cached = viewers.get(identity);
      if (cached) {
        context.viewer = { ...cached, roles: rolesFor(cached.clerkUserId, config.adminUserIds) };
        return context;
      }
      const user = await provisionUser(context.em, perRequest(context, ledgerOf), identity, config);
      context.viewer = { id: user.id, clerkUserId: user.clerkUserId, roles: user.roles };
      perRequest(context, usersById).prime(user.id, user);
      viewers.set(identity, { id: user.id, clerkUserId: user.clerkUserId });
      return context;
    } catch (error) {
      if (error instanceof DomainError) throw toGraphQLError(error);
      // Keep "try again" distinguishable from a failure.
      if (isDatabaseUnavailable(error)) throw toGraphQLError(serviceUnavailable());
      throw error;
    }
  };
}
