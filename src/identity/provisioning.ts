import type { EntityManager } from '@mikro-orm/postgresql';
import { unauthenticated } from '../core/errors.js';
import { prefixedId } from '../core/ids.js';
import type { Ledger } from '../credits/ledger.js';
import { queryRows } from '../database/native-query.js';
import { pgTextArray, type Row } from '../database/rows.js';
import { rolesFor } from '../users/roles.js';
import { toUser, USER_ROWS, type User } from '../users/user.model.js';
import type { VerifiedIdentity } from './identity.js';
import { ACCOUNT_PLAN_COLUMNS } from '../accounts/account-plan.js';

/** The viewer lookup every authenticated request makes (the benchmark's raw-SQL ceiling imports it too). */
export const VIEWER_SQL = `${USER_ROWS} where u.clerk_user_id = ? limit 1`;

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
  const roles = rolesFor(identity.subject, options.adminUserIds);
  // Plain SQL read into a read model: the ORM's query building and entity hydration were a visible share of a
  // consumption's CPU. The viewer is never changed through the ORM; what changes it is SQL (below, onboarding, ledger).
  const [row] = await queryRows(em, VIEWER_SQL, [identity.subject], 'tally_viewer');
  let user: User;
  if (!row) {
    await em.transactional(async (tx) => {
      // The user and their personal account, whose id is theirs; a concurrent first request loses the race on the
      // unique clerk_user_id, and its account row goes with its rolled-back transaction.
      const id = prefixedId('usr');
      await tx.execute(`insert into accounts (id, kind, created_at, updated_at) values (?, 'personal', now(), now())`, [id]);
      const inserted = await tx.execute<{ id: string }[]>(
        `insert into users (id, clerk_user_id, email, first_name, last_name, image_url, roles, created_at, updated_at)
         values (?, ?, ?, ?, ?, ?, ?::text[], now(), now())
         on conflict (clerk_user_id) do nothing returning id`,
        [
          id,
          identity.subject,
          identity.email ?? null,
          identity.firstName ?? null,
          identity.lastName ?? null,
          identity.imageUrl ?? null,
          pgTextArray(roles),
        ],
      );
      if (inserted[0]) await ledger.grantStarterCredits(tx, inserted[0].id, options.starterCredits);
      else await tx.execute(`delete from accounts where id = ? and kind = 'personal'`, [id]);
    });
    const [created] = await queryRows(em, VIEWER_SQL, [identity.subject], 'tally_viewer');
    if (!created) throw new Error(`user ${identity.subject} was provisioned but cannot be read back`);
    user = toUser(created, roles);
  } else {
    user = await refreshProfile(em, row, identity, roles);
  }
  if (user.deletedAt) throw unauthenticated('This account has been deleted');
  return user;
}

const sameRoles = (stored: unknown, roles: readonly string[]) =>
  Array.isArray(stored) && stored.length === roles.length && roles.every((role) => stored.includes(role));

/**
 * Keeps the profile in step with the identity provider's claims, and the stored roles in step with the
 * configuration, writing only when something changed.
 */
async function refreshProfile(em: EntityManager, row: Row, identity: VerifiedIdentity, roles: readonly string[]): Promise<User> {
  const user = toUser(row, roles);
  const profile = {
    email: identity.email ?? user.email,
    firstName: identity.firstName ?? user.firstName,
    lastName: identity.lastName ?? user.lastName,
    imageUrl: identity.imageUrl ?? user.imageUrl,
  };
  const unchanged =
    profile.email === user.email &&
    profile.firstName === user.firstName &&
    profile.lastName === user.lastName &&
    profile.imageUrl === user.imageUrl &&
    sameRoles(row.roles, roles);
  if (unchanged) return user;
  const [updated] = await em.execute<Row[]>(
    `with changed as (
       update users set email = ?, first_name = ?, last_name = ?, image_url = ?, roles = ?::text[], updated_at = now()
       where id = ? returning *
     )
     select changed.*, ${ACCOUNT_PLAN_COLUMNS}
     from changed join accounts a on a.id = changed.id`,
    [profile.email, profile.firstName, profile.lastName, profile.imageUrl, pgTextArray(roles), user.id],
  );
  return updated ? toUser(updated, roles) : user;
}
