import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, ID, InputType, ObjectType } from 'type-graphql';
import { ListSize } from '../core/cost.js';
import { badUserInput } from '../core/errors.js';
import { bigintPosition, decodeCursor, encodeCursor, PageInfo, pageSize, slicePage } from '../core/pagination.js';
import { featureKey, idOf } from '../core/validation.js';
import type { Row } from '../database/rows.js';
import { CreditTransaction, toCreditTransaction } from './credit-transaction.model.js';
import { CreditTransactionStatus, CreditTransactionType } from './credit-transaction.enums.js';

@InputType()
export class CreditHistoryFilter {
  @Field(() => CreditTransactionType, { nullable: true })
  type?: CreditTransactionType;

  @Field(() => CreditTransactionStatus, { nullable: true })
  status?: CreditTransactionStatus;

  @Field(() => ID, { nullable: true, description: 'A workshop id (ws_...).' })
  workshopId?: string;

  @Field(() => String, { nullable: true })
  feature?: string;

  @Field(() => Date, { nullable: true, description: 'Rows created at or after this time.' })
  from?: Date;

  @Field(() => Date, { nullable: true, description: 'Rows created before this time.' })
  to?: Date;
}

@ObjectType()
export class CreditTransactionEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => CreditTransaction)
  node!: CreditTransaction;
}

@ObjectType()
export class CreditTransactionConnection {
  @ListSize(1)
  @Field(() => [CreditTransactionEdge])
  edges!: CreditTransactionEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

const CURSOR_KIND = 'ctx';

/** An account's ledger, newest first in posting order, keyset-paginated on posting_seq. */
export async function creditHistory(
  em: EntityManager,
  accountId: string,
  args: { first: number | null; after?: string | null; filter?: CreditHistoryFilter | null },
): Promise<CreditTransactionConnection> {
  const size = pageSize(args.first);
  const conditions = ['account_id = ?'];
  const params: unknown[] = [accountId];
  const where = (condition: string, value: unknown) => {
    conditions.push(condition);
    params.push(value);
  };
  const [seq] = decodeCursor(CURSOR_KIND, args.after, 1) ?? [];
  if (seq !== undefined) where('posting_seq < ?', bigintPosition(seq));
  const filter = args.filter;
  if (filter?.type) where('type = ?', filter.type);
  if (filter?.status) where('status = ?', filter.status);
  if (filter?.workshopId) where('workshop_id = ?', idOf('ws', 'filter.workshopId', filter.workshopId));
  if (filter?.feature) where('feature = ?', featureKey('filter.feature', filter.feature));
  if (filter?.from && filter?.to && filter.from >= filter.to) throw badUserInput('filter.to', 'must be after filter.from');
  if (filter?.from) where('created_at >= ?', filter.from);
  if (filter?.to) where('created_at < ?', filter.to);
  const rows = await em.execute<Row[]>(
    `select * from credit_transactions where ${conditions.join(' and ')} order by posting_seq desc limit ?`,
    [...params, size + 1],
  );
  const { items, hasNextPage } = slicePage(rows.map(toCreditTransaction), size);
  const edges = items.map((node) => ({ node, cursor: encodeCursor(CURSOR_KIND, [String(node.postingSeq)]) }));
  return { edges, pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
}
