import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, ObjectType } from 'type-graphql';
import { badUserInput } from '../graphql/errors.js';
import { decodeCursor, encodeCursor, PageInfo, pageSize, slicePage } from '../graphql/pagination.js';
import { Workshop } from './workshop.entity.js';

@ObjectType()
export class WorkshopEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => Workshop)
  node!: Workshop;
}

@ObjectType()
export class WorkshopConnection {
  @Field(() => [WorkshopEdge])
  edges!: WorkshopEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

const CURSOR_KIND = 'ws';

/** A user's workshops, newest first, keyset-paginated on (created_at, id). */
export async function listWorkshops(
  em: EntityManager,
  userId: string,
  args: { first: number | null; after?: string | null },
): Promise<WorkshopConnection> {
  const size = pageSize(args.first);
  const position = decodeCursor(CURSOR_KIND, args.after, 2);
  let after = {};
  if (position) {
    const [createdAt, id] = position as [string, string];
    const at = new Date(createdAt);
    if (Number.isNaN(at.getTime())) throw badUserInput('after', 'is not a cursor from this list');
    after = { $or: [{ createdAt: { $lt: at } }, { createdAt: at, id: { $lt: id } }] };
  }
  const rows = await em.find(
    Workshop,
    { owner: userId, deletedAt: null, ...after },
    { orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], limit: size + 1 },
  );
  const { items, hasNextPage } = slicePage(rows, size);
  const edges = items.map((node) => ({ node, cursor: encodeCursor(CURSOR_KIND, [node.createdAt.toISOString(), node.id]) }));
  return { edges, pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
}
