import { isAdmin, viewerOf, type RequestContext } from '../core/context.js';
import { badUserInput, forbidden } from '../core/errors.js';
import { idOf } from '../core/validation.js';
import { requireManager, roleIn } from '../organizations/organizations.js';

/**
 * The account a request reads: the viewer's own (their id), or an organization they belong to (any role; NOT_FOUND
 * to strangers, so existence is not revealed). An admin may name any user (`userId`) or organization; anyone else
 * naming a user other than themselves is FORBIDDEN.
 */
export async function readableAccount(ctx: RequestContext, target: { userId?: string | null; organizationId?: string | null }): Promise<string> {
  const viewer = viewerOf(ctx);
  if (target.userId != null && target.organizationId != null) throw badUserInput('userId', 'give at most one of userId and organizationId');
  if (target.userId != null) {
    const id = idOf('usr', 'userId', target.userId);
    if (id !== viewer.id && !isAdmin(viewer)) throw forbidden("Only admins may read another user's account");
    return id;
  }
  if (target.organizationId == null) return viewer.id;
  const id = idOf('org', 'organizationId', target.organizationId);
  await roleIn(ctx.em, id, viewer);
  return id;
}

/**
 * An account whose holds and grants the viewer may read: their own, any user's for an admin (FORBIDDEN for anyone
 * else), or an organization they manage (OWNER or ADMIN, or a Tally admin; FORBIDDEN to its members, NOT_FOUND to
 * strangers).
 */
export async function managedOrOwnAccount(ctx: RequestContext, target: { userId?: string | null; organizationId?: string | null }): Promise<string> {
  if (target.userId != null && target.organizationId != null) throw badUserInput('userId', 'give at most one of userId and organizationId');
  if (target.organizationId != null) return managedAccount(ctx, target.organizationId, 'organizationId');
  return readableAccount(ctx, { userId: target.userId });
}

/** An organization the viewer manages (OWNER or ADMIN): buying for it, changing its settings. */
export async function managedAccount(ctx: RequestContext, organizationId: string | null | undefined, field = 'input.organizationId'): Promise<string> {
  const viewer = viewerOf(ctx);
  if (organizationId == null) return viewer.id;
  const id = idOf('org', field, organizationId);
  await requireManager(ctx.em, id, viewer);
  return id;
}

/** Exactly one of a user and an organization (admin operations that target an account). */
export function targetAccount(userId: string | null | undefined, organizationId: string | null | undefined, prefix = 'input.'): string {
  if ((userId == null) === (organizationId == null)) throw badUserInput(`${prefix}userId`, 'give exactly one of userId and organizationId');
  return userId != null ? idOf('usr', `${prefix}userId`, userId) : idOf('org', `${prefix}organizationId`, organizationId!);
}
