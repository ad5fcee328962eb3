import type { EntityManager } from '@mikro-orm/postgresql';
import { isAdmin, type Viewer } from '../core/context.js';
import { badUserInput, forbidden, limitExceeded, notFound } from '../core/errors.js';
import { prefixedId } from '../core/ids.js';
import { isPrefixedId } from '../core/ids.js';
import { decodeCursor, encodeCursor, pageSize, slicePage, timestampPosition } from '../core/pagination.js';
import type { Row } from '../database/rows.js';
import { MANAGERS, OrganizationRole } from './organization-role.js';
import {
  ORGANIZATION_ROWS,
  type OrganizationConnection,
  toOrganization,
  toOrganizationMember,
  type Organization,
  type OrganizationMember,
  type OrganizationMemberConnection,
} from './organization.model.js';

/** At most this many organizations per user (created or joined): what User.organizations lists, whole. */
export const MAX_ORGANIZATIONS_PER_USER = 100;

const MEMBER_CURSOR = 'om';

/**
 * The viewer's role in an organization; a Tally admin who is not a member acts as an owner. NOT_FOUND for anyone
 * else, removed members included: an organization's existence is not revealed to strangers.
 */
export async function roleIn(em: EntityManager, organizationId: string, viewer: Viewer, options: { lock?: boolean } = {}): Promise<OrganizationRole> {
  const [row] = await em.execute<Row[]>(
    `select role from organization_members where organization_id = ? and user_id = ? and removed_at is null${options.lock ? ' for update' : ''}`,
    [organizationId, viewer.id],
  );
  if (row) return row.role as OrganizationRole;
  if (isAdmin(viewer)) {
    const [exists] = await em.execute<Row[]>('select 1 from organizations where id = ?', [organizationId]);
    if (exists) return OrganizationRole.OWNER;
  }
  throw notFound('Organization', organizationId);
}

/** The viewer manages the organization (OWNER or ADMIN, or a Tally admin); NOT_FOUND to strangers, FORBIDDEN to members. */
export async function requireManager(em: EntityManager, organizationId: string, viewer: Viewer): Promise<OrganizationRole> {
  const role = await roleIn(em, organizationId, viewer);
  if (!MANAGERS.includes(role)) throw forbidden('Only owners and admins of the organization may do this');
  return role;
}

/** Whether the viewer manages the organization that owns `accountId` (false for a personal account or a stranger). */
export async function managesAccount(em: EntityManager, accountId: string, viewer: Viewer): Promise<boolean> {
  if (!accountId.startsWith('org_')) return false;
  try {
    return MANAGERS.includes(await roleIn(em, accountId, viewer));
  } catch {
    return false;
  }
}

export async function findOrganization(em: EntityManager, organizationId: string, viewer: Viewer): Promise<Organization> {
  const role = await roleIn(em, organizationId, viewer);
  const [row] = await em.execute<Row[]>(`${ORGANIZATION_ROWS} where o.id = ?`, [organizationId]);
  if (!row) throw notFound('Organization', organizationId);
  return toOrganization(row, role);
}

/** The user's organizations, by name (at most MAX_ORGANIZATIONS_PER_USER, the most anyone can have). */
export async function organizationsOf(em: EntityManager, userId: string): Promise<Organization[]> {
  const rows = await em.execute<Row[]>(
    `select org.*, m.role as viewer_role from (${ORGANIZATION_ROWS}) org
     join organization_members m on m.organization_id = org.id and m.user_id = ? and m.removed_at is null
     order by org.name, org.id limit ?`,
    [userId, MAX_ORGANIZATIONS_PER_USER],
  );
  return rows.map((row) => toOrganization(row, row.viewer_role as OrganizationRole));
}

const ORGANIZATION_CURSOR = 'org';

/**
 * Organizations for a Tally admin, newest first, that match `search`: the id exactly or part of the name (any case;
 * strpos, so `%` and `_` are plain characters). Each carries the admin's own role there, or OWNER (what they may do).
 */
export async function organizationsPage(
  em: EntityManager,
  viewer: Viewer,
  args: { search: string | null; first: number | null; after?: string | null },
): Promise<OrganizationConnection> {
  const size = pageSize(args.first);
  const [at, id] = decodeCursor(ORGANIZATION_CURSOR, args.after, 2) ?? [];
  if (id !== undefined && !isPrefixedId('org', id)) throw badUserInput('after', 'is not a cursor from this list');
  const rows = await em.execute<Row[]>(
    `select org.*, org.created_at::text as position_at, m.role as viewer_role from (${ORGANIZATION_ROWS}) org
     left join organization_members m on m.organization_id = org.id and m.user_id = ? and m.removed_at is null
     where (?::text is null or org.id = ? or strpos(lower(org.name), lower(?)) > 0)
       and (?::timestamptz is null or (org.created_at, org.id) < (?::timestamptz, ?::text))
     order by org.created_at desc, org.id desc limit ?`,
    [viewer.id, args.search, args.search, args.search, at === undefined ? null : timestampPosition(at), at ?? null, id ?? null, size + 1],
  );
  const { items, hasNextPage } = slicePage(rows, size);
  const edges = items.map((row) => ({
    node: toOrganization(row, (row.viewer_role as OrganizationRole | null) ?? OrganizationRole.OWNER),
    cursor: encodeCursor(ORGANIZATION_CURSOR, [String(row.position_at), String(row.id)]),
  }));
  return { edges, pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
}

async function countMemberships(em: EntityManager, userId: string): Promise<number> {
  const [row] = await em.execute<{ n: number }[]>('select count(*)::int as n from organization_members where user_id = ? and removed_at is null', [userId]);
  return row?.n ?? 0;
}

/** A new organization with its own account (no credits yet), the creator its OWNER. */
export async function createOrganization(em: EntityManager, creatorId: string, name: string): Promise<Organization> {
  return em.transactional(async (tx) => {
    // Serializes one user's memberships while they are counted against the cap.
    await tx.execute(`select pg_advisory_xact_lock(hashtextextended('memberships:' || ?, 0))`, [creatorId]);
    if ((await countMemberships(tx, creatorId)) >= MAX_ORGANIZATIONS_PER_USER) throw limitExceeded('organizations per user', MAX_ORGANIZATIONS_PER_USER);
    const id = prefixedId('org');
    await tx.execute(`insert into accounts (id, kind, created_at, updated_at) values (?, 'organization', now(), now())`, [id]);
    await tx.execute('insert into organizations (id, name, created_at, updated_at) values (?, ?, now(), now())', [id, name]);
    await tx.execute(
      `insert into organization_members (organization_id, user_id, role, created_at, updated_at) values (?, ?, 'owner', now(), now())`,
      [id, creatorId],
    );
    const [row] = await tx.execute<Row[]>(`${ORGANIZATION_ROWS} where o.id = ?`, [id]);
    return toOrganization(row!, OrganizationRole.OWNER);
  });
}

export async function membersPage(em: EntityManager, organizationId: string, args: { first: number | null; after?: string | null }): Promise<OrganizationMemberConnection> {
  const size = pageSize(args.first);
  const position = decodeCursor(MEMBER_CURSOR, args.after, 2);
  const [at, userId] = position ?? [];
  if (userId !== undefined && !/^usr_[a-z0-9]{1,32}$/.test(userId)) throw badUserInput('after', 'is not a cursor from this list');
  const rows = await em.execute<Row[]>(
    `select m.*, m.created_at::text as position_at from organization_members m
     where m.organization_id = ? and m.removed_at is null
       and (?::timestamptz is null or (m.created_at, m.user_id) > (?::timestamptz, ?::text))
     order by m.created_at, m.user_id limit ?`,
    [organizationId, at === undefined ? null : timestampPosition(at), at ?? null, userId ?? null, size + 1],
  );
  const { items, hasNextPage } = slicePage(rows, size);
  const edges = items.map((row) => ({ node: toOrganizationMember(row), cursor: encodeCursor(MEMBER_CURSOR, [String(row.position_at), String(row.user_id)]) }));
  return { edges, pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
}

export interface MemberChange {
  organizationId: string;
  userId: string;
  role?: OrganizationRole | null;
  /** undefined: unchanged; null: no limit. */
  monthlySpendLimit?: number | null;
}

/**
 * Member management takes the organization's row lock first, so that concurrent changes to its members are made
 * one at a time: the last owner cannot be demoted or removed by two requests that each saw another owner. It never
 * locks the account: spending goes on meanwhile, and a member changed or removed while a spend of theirs waited is
 * seen as they are now by that spend (the posting core re-reads their row under its lock).
 */
async function lockForManagement(em: EntityManager, organizationId: string, viewer: Viewer): Promise<OrganizationRole> {
  const role = await roleIn(em, organizationId, viewer);
  await em.execute('select 1 from organizations where id = ? for update', [organizationId]);
  return role;
}

async function ownersLeft(em: EntityManager, organizationId: string, without: string): Promise<number> {
  const [row] = await em.execute<{ n: number }[]>(
    `select count(*)::int as n from organization_members where organization_id = ? and role = 'owner' and removed_at is null and user_id <> ?`,
    [organizationId, without],
  );
  return row?.n ?? 0;
}

const requireOwnerFor = (actorRole: OrganizationRole, what: string) => {
  if (actorRole !== OrganizationRole.OWNER) throw forbidden(`Only an owner may ${what}`);
};

export async function addMember(em: EntityManager, viewer: Viewer, change: MemberChange & { role: OrganizationRole }): Promise<OrganizationMember> {
  return em.transactional(async (tx) => {
    const actorRole = await lockForManagement(tx, change.organizationId, viewer);
    if (!MANAGERS.includes(actorRole)) throw forbidden('Only owners and admins of the organization may add members');
    if (change.role === OrganizationRole.OWNER) requireOwnerFor(actorRole, 'make an owner');
    const [user] = await tx.execute<Row[]>('select id from users where id = ? and deleted_at is null', [change.userId]);
    if (!user) throw notFound('User', change.userId);
    await tx.execute(`select pg_advisory_xact_lock(hashtextextended('memberships:' || ?, 0))`, [change.userId]);
    const [existing] = await tx.execute<Row[]>('select removed_at from organization_members where organization_id = ? and user_id = ?', [
      change.organizationId,
      change.userId,
    ]);
    if (existing && existing.removed_at === null) throw badUserInput('input.userId', 'is already a member of this organization');
    if ((await countMemberships(tx, change.userId)) >= MAX_ORGANIZATIONS_PER_USER) throw limitExceeded('organizations per user', MAX_ORGANIZATIONS_PER_USER);
    // Someone who comes back keeps their row: what they spent this month still counts against their limit.
    const [row] = await tx.execute<Row[]>(
      `insert into organization_members (organization_id, user_id, role, monthly_spend_limit, created_at, updated_at)
       values (?, ?, ?, ?, now(), now())
       on conflict (organization_id, user_id) do update set role = excluded.role, monthly_spend_limit = excluded.monthly_spend_limit,
         removed_at = null, created_at = now(), updated_at = now()
       returning *`,
      [change.organizationId, change.userId, change.role, change.monthlySpendLimit ?? null],
    );
    return toOrganizationMember(row!);
  });
}

export async function updateMember(em: EntityManager, viewer: Viewer, change: MemberChange): Promise<OrganizationMember> {
  return em.transactional(async (tx) => {
    const actorRole = await lockForManagement(tx, change.organizationId, viewer);
    if (!MANAGERS.includes(actorRole)) throw forbidden('Only owners and admins of the organization may change members');
    const [target] = await tx.execute<Row[]>(
      'select role from organization_members where organization_id = ? and user_id = ? and removed_at is null',
      [change.organizationId, change.userId],
    );
    if (!target) throw notFound('Member', change.userId);
    const newRole = change.role ?? (target.role as OrganizationRole);
    if (target.role === OrganizationRole.OWNER || newRole === OrganizationRole.OWNER) requireOwnerFor(actorRole, 'change an owner or make one');
    if (target.role === OrganizationRole.OWNER && newRole !== OrganizationRole.OWNER && (await ownersLeft(tx, change.organizationId, change.userId)) === 0) {
      throw badUserInput('input.role', 'an organization must keep at least one owner');
    }
    const [row] = await tx.execute<Row[]>(
      `update organization_members set role = ?, monthly_spend_limit = case when ?::boolean then ?::int else monthly_spend_limit end, updated_at = now()
       where organization_id = ? and user_id = ? returning *`,
      [newRole, change.monthlySpendLimit !== undefined, change.monthlySpendLimit ?? null, change.organizationId, change.userId],
    );
    return toOrganizationMember(row!);
  });
}

/** Removes a member (owners and admins; anyone may leave). Their open holds stay until captured, released or expired. */
export async function removeMember(em: EntityManager, viewer: Viewer, organizationId: string, userId: string): Promise<boolean> {
  return em.transactional(async (tx) => {
    const actorRole = await lockForManagement(tx, organizationId, viewer);
    const leaving = userId === viewer.id;
    if (!leaving && !MANAGERS.includes(actorRole)) throw forbidden('Only owners and admins of the organization may remove members');
    const [target] = await tx.execute<Row[]>(
      'select role from organization_members where organization_id = ? and user_id = ? and removed_at is null',
      [organizationId, userId],
    );
    if (!target) throw notFound('Member', userId);
    if (target.role === OrganizationRole.OWNER && !leaving) requireOwnerFor(actorRole, 'remove an owner');
    if (target.role === OrganizationRole.OWNER && (await ownersLeft(tx, organizationId, userId)) === 0) {
      throw badUserInput('userId', 'an organization must keep at least one owner');
    }
    await tx.execute('update organization_members set removed_at = now(), updated_at = now() where organization_id = ? and user_id = ?', [
      organizationId,
      userId,
    ]);
    return true;
  });
}
