import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, ObjectType } from 'type-graphql';
import { ListSize } from '../core/cost.js';
import { badUserInput } from '../core/errors.js';
import { isPrefixedId } from '../core/ids.js';
import { decodeCursor, encodeCursor, PageInfo, pageSize, slicePage, timestampPosition } from '../core/pagination.js';
import type { Row } from '../database/rows.js';
import { rolesFor } from './roles.js';
import { toUser, User, USER_ROWS } from './user.model.js';

@ObjectType()
export class UserEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => User)
  node!: User;
}

@ObjectType()
export class UserConnection {
  @ListSize(1)
  @Field(() => [UserEdge])
  edges!: UserEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

const CURSOR_KIND = 'usr';

/**
 * What an admin's search matches, lower-cased: the user's id and token subject exactly, or a part of their email or
 * name. strpos rather than LIKE, so that `%` and `_` in a search are plain characters.
 */
const MATCHES = `(u.id = ? or u.clerk_user_id = ?
  or strpos(lower(coalesce(u.email, '')), ?) > 0
  or strpos(lower(concat_ws(' ', u.first_name, u.last_name)), ?) > 0)`;

/** Users who were not deleted, newest first, that match `search` (all of them without one). */
export async function usersPage(
  em: EntityManager,
  args: { search: string | null; first: number | null; after?: string | null },
  adminUserIds: ReadonlySet<string>,
): Promise<UserConnection> {
  const size = pageSize(args.first);
  const [at, id] = decodeCursor(CURSOR_KIND, args.after, 2) ?? [];
  if (id !== undefined && !isPrefixedId('usr', id)) throw badUserInput('after', 'is not a cursor from this list');
  const conditions = ['u.deleted_at is null'];
  const params: unknown[] = [];
  if (args.search !== null) {
    conditions.push(MATCHES);
    const needle = args.search.toLowerCase();
    params.push(args.search, args.search, needle, needle);
  }
  if (at !== undefined) {
    conditions.push('(u.created_at, u.id) < (?::timestamptz, ?::text)');
    params.push(timestampPosition(at), id);
  }
  const rows = await em.execute<Row[]>(
    `${USER_ROWS.replace('select u.*', 'select u.*, u.created_at::text as position_at')} where ${conditions.join(' and ')}
     order by u.created_at desc, u.id desc limit ?`,
    [...params, size + 1],
  );
  const { items, hasNextPage } = slicePage(rows, size);
  const edges = items.map((row) => ({
    node: toUser(row, rolesFor(String(row.clerk_user_id), adminUserIds)),
    cursor: encodeCursor(CURSOR_KIND, [String(row.position_at), String(row.id)]),
  }));
  return { edges, pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
}
