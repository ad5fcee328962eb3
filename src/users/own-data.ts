import type { MiddlewareFn } from 'type-graphql';
import { isAdmin, type RequestContext } from '../core/context.js';
import { forbidden } from '../core/errors.js';

/**
 * A field of a user that only that user (and Tally's admins) may read: their credits, plan, roles, history and
 * workshops. Other members of an organization see each other as users (name, email) and no more.
 */
export const OwnDataOnly: MiddlewareFn<RequestContext> = async ({ root, context, info }, next) => {
  const viewer = context.viewer;
  if (viewer && ((root as { id?: string }).id === viewer.id || isAdmin(viewer))) return next();
  throw forbidden(`${info.parentType.name}.${info.fieldName} is visible to that user and to admins only`);
};
