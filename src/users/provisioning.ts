import type { EntityManager } from '@mikro-orm/postgresql';
import type { VerifiedIdentity } from '../graphql/auth.js';
import { unauthenticated } from '../graphql/errors.js';
import type { Ledger } from '../credits/ledger.js';
import { prefixedId } from '../database/ids.js';
import { queryRows } from '../database/native-query.js';
import { ADMIN_ROLE, User } from './user.entity.js';

/** The viewer lookup every authenticated request makes (the benchmark's raw-SQL ceiling imports it too). */
export const VIEWER_SQL = 'select * from users where clerk_user_id = ? limit 1';

export interface ProvisioningOptions {
  adminUserIds: ReadonlySet<string>;
  starterCredits: number;
}

/**
 * The user behind a verified token, created on their first request. Concurrent first requests race on the unique
 * clerk_user_id: one INSERT wins and only the winner grants starter credits, in the transaction that created the user.
 */
export async function provisionUser(
  em: EntityManager,
  ledger: Ledger,
  identity: VerifiedIdentity,
  options: ProvisioningOptions,
): Promise<User> {
  // Plain SQL mapped onto the entity: the ORM's query building was a visible share of a consumption's CPU.
  const [row] = await queryRows(em, VIEWER_SQL, [identity.subject]);
  let user = row ? em.map(User, row) : null;
  if (!user) {
    await em.transactional(async (tx) => {
      const roles = options.adminUserIds.has(identity.subject) ? [ADMIN_ROLE] : [];
      const inserted = await tx.execute<{ id: string }[]>(
        `insert into users (id, clerk_user_id, email, first_name, last_name, image_url, roles, created_at, updated_at)
         values (?, ?, ?, ?, ?, ?, ?::text[], now(), now())
         on conflict (clerk_user_id) do nothing returning id`,
        [
          prefixedId('usr'),
          identity.subject,
          identity.email ?? null,
          identity.firstName ?? null,
          identity.lastName ?? null,
          identity.imageUrl ?? null,
          `{${roles.join(',')}}`,
        ],
      );
      if (inserted[0]) await ledger.grantStarterCredits(tx, inserted[0].id, options.starterCredits);
    });
    user = await em.findOneOrFail(User, { clerkUserId: identity.subject });
  } else {
    if (refreshProfile(user, identity, options)) await em.flush();
  }
  if (user.deletedAt) throw unauthenticated('This account has been deleted');
  return user;
}

/** Keeps the profile in step with the identity provider's claims, writing only when something changed. */
function refreshProfile(user: User, identity: VerifiedIdentity, options: ProvisioningOptions): boolean {
  const before = [user.email, user.firstName, user.lastName, user.imageUrl, user.roles.length];
  user.email = identity.email ?? user.email;
  user.firstName = identity.firstName ?? user.firstName;
  user.lastName = identity.lastName ?? user.lastName;
  user.imageUrl = identity.imageUrl ?? user.imageUrl;
  if (options.adminUserIds.has(user.clerkUserId) && !user.roles.includes(ADMIN_ROLE)) user.roles = [...user.roles, ADMIN_ROLE];
  const after = [user.email, user.firstName, user.lastName, user.imageUrl, user.roles.length];
  return before.some((value, i) => value !== after[i]);
}
