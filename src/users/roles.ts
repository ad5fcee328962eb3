import { ADMIN_ROLE } from '../core/context.js';

/**
 * A user's roles, from the configuration alone: `admin` for the subjects in ADMIN_USER_IDS. They are worked out on
 * every request, so removing an id from the list takes the rights away at the next start; what a users row stored
 * earlier is never read for authorization.
 */
export const rolesFor = (clerkUserId: string, adminUserIds: ReadonlySet<string>): string[] =>
  adminUserIds.has(clerkUserId) ? [ADMIN_ROLE] : [];
