import type { EntityManager } from '@mikro-orm/postgresql';
import type { VerifiedIdentity } from '../graphql/auth.js';
import { unauthenticated } from '../graphql/errors.js';
import type { Ledger } from '../credits/ledger.js';
import { prefixedId } from '../database/ids.js';
import { queryRows } from '../database/native-query.js';
import { pgTextArray } from '../database/row-view.js';
import { ADMIN_ROLE, userView, type User } from './user.entity.js';

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
  // Plain SQL read into a read model: the ORM's query building and entity hydration were a visible share of a
  // consumption's CPU. The viewer is never changed through the ORM; what changes it is SQL (below, onboarding, ledger).
  const [row] = await queryRows(em, VIEWER_SQL, [identity.subject]);
  let user = row ? userView(row) : undefined;
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
          pgTextArray(roles),
        ],
      );
      if (inserted[0]) await ledger.grantStarterCredits(tx, inserted[0].id, options.starterCredits);
    });
    const [created] = await queryRows(em, VIEWER_SQL, [identity.subject]);
    if (!created) throw new Error(`user ${identity.subject} was provisioned but cannot be read back`);
    user = userView(created);
  } else {
    user = await refreshProfile(em, user, identity, options);
  }
  if (user.deletedAt) throw unauthenticated('This account has been deleted');
  return user;
}

/** Keeps the profile in step with the identity provider's claims, writing only when something changed. */
async function refreshProfile(em: EntityManager, user: User, identity: VerifiedIdentity, options: ProvisioningOptions): Promise<User> {
  const profile = {
    email: identity.email ?? user.email ?? null,
    firstName: identity.firstName ?? user.firstName ?? null,
    lastName: identity.lastName ?? user.lastName ?? null,
    imageUrl: identity.imageUrl ?? user.imageUrl ?? null,
    roles: options.adminUserIds.has(user.clerkUserId) && !user.roles.includes(ADMIN_ROLE) ? [...user.roles, ADMIN_ROLE] : user.roles,
  };
  const unchanged =
    profile.email === (user.email ?? null) &&
    profile.firstName === (user.firstName ?? null) &&
    profile.lastName === (user.lastName ?? null) &&
    profile.imageUrl === (user.imageUrl ?? null) &&
    profile.roles === user.roles;
  if (unchanged) return user;
  const [row] = await em.execute<Record<string, unknown>[]>(
    `update users set email = ?, first_name = ?, last_name = ?, image_url = ?, roles = ?::text[], updated_at = now()
     where id = ? returning *`,
    [profile.email, profile.firstName, profile.lastName, profile.imageUrl, pgTextArray(profile.roles), user.id],
  );
  return row ? userView(row) : user;
}
