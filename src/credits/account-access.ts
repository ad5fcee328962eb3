import { viewerOf, type RequestContext } from '../core/context.js';
import { badUserInput } from '../core/errors.js';
import { idOf } from '../core/validation.js';
import { requireManager, roleIn } from '../organizations/organizations.js';

/**
 * The account a request reads or acts on: the viewer's own (their id), or an organization they belong to (any role;
 * NOT_FOUND to strangers, so existence is not revealed).
 */
export async function readableAccount(ctx: RequestContext, organizationId: string | null | undefined, field = 'organizationId'): Promise<string> {
  const viewer = viewerOf(ctx);
  if (organizationId == null) return viewer.id;
  const id = idOf('org', field, organizationId);
  await roleIn(ctx.em, id, viewer);
  return id;
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
