import type { EntityManager } from '@mikro-orm/postgresql';
import DataLoader from 'dataloader';
import { Field, ObjectType } from 'type-graphql';
import { ListSize } from '../core/cost.js';
import { badUserInput } from '../core/errors.js';
import { isPrefixedId } from '../core/ids.js';
import { decodeCursor, encodeCursor, PageInfo, pageSize, slicePage, timestampPosition } from '../core/pagination.js';
import { pgTextArray, type Row } from '../database/rows.js';
import { toWorkshop, Workshop } from './workshop.model.js';

@ObjectType()
export class WorkshopEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => Workshop)
  node!: Workshop;
}

@ObjectType()
export class WorkshopConnection {
  @ListSize(1)
  @Field(() => [WorkshopEdge])
  edges!: WorkshopEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

const CURSOR_KIND = 'ws';

interface PageRequest {
  userId: string;
  first: number | null;
  after?: string | null;
}

/** Parses the page arguments once; errors name the offending argument. */
function keyset(args: Omit<PageRequest, 'userId'>) {
  const size = pageSize(args.first);
  const position = decodeCursor(CURSOR_KIND, args.after, 2);
  if (!position) return { size };
  const [at, id] = position as [string, string];
  if (!isPrefixedId('ws', id)) throw badUserInput('after', 'is not a cursor from this list');
  return { size, at: timestampPosition(at), id };
}

function connection(rows: Row[], size: number): WorkshopConnection {
  const { items, hasNextPage } = slicePage(rows, size);
  const edges = items.map((row) => ({
    node: toWorkshop(row),
    cursor: encodeCursor(CURSOR_KIND, [String(row.position_at), String(row.id)]),
  }));
  return { edges, pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
}

/** A user's workshops, newest first, keyset-paginated on (created_at, id). */
export function listWorkshops(em: EntityManager, userId: string, args: Omit<PageRequest, 'userId'>): Promise<WorkshopConnection> {
  return createWorkshopPageLoader(em).load({ userId, ...args });
}

/**
 * Pages of workshops for many users in one statement per distinct (first, after): a lateral join takes each
 * owner's newest rows through the (user_id, created_at, id) index.
 */
export function createWorkshopPageLoader(em: EntityManager) {
  return new DataLoader<PageRequest, WorkshopConnection, string>(
    async (requests) => {
      const groups = new Map<string, PageRequest[]>();
      for (const request of requests) {
        const key = JSON.stringify([request.first, request.after ?? null]);
        groups.set(key, [...(groups.get(key) ?? []), request]);
      }
      const pages = new Map<PageRequest, WorkshopConnection | Error>();
      for (const group of groups.values()) {
        let parsed: ReturnType<typeof keyset>;
        try {
          parsed = keyset(group[0]!);
        } catch (error) {
          for (const request of group) pages.set(request, error as Error);
          continue;
        }
        const { size, at, id } = parsed;
        const rows = await em.execute<Row[]>(
          `select w.*, w.created_at::text as position_at from unnest(?::text[]) as owner(id)
           cross join lateral (
             select * from workshops
             where user_id = owner.id and deleted_at is null
               and (?::timestamptz is null or (created_at, id) < (?::timestamptz, ?::text))
             order by created_at desc, id desc limit ?
           ) w`,
          [pgTextArray(group.map((r) => r.userId)), at ?? null, at ?? null, id ?? null, size + 1],
        );
        const byOwner = new Map<string, Row[]>();
        for (const row of rows) {
          const owner = String(row.user_id);
          byOwner.set(owner, [...(byOwner.get(owner) ?? []), row]);
        }
        for (const request of group) pages.set(request, connection(byOwner.get(request.userId) ?? [], size));
      }
      return requests.map((request) => pages.get(request)!);
    },
    { cacheKeyFn: (request) => JSON.stringify([request.userId, request.first, request.after ?? null]) },
  );
}
