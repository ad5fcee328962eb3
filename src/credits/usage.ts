import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DomainError, ErrorCode } from '../core/errors.js';

export enum UsageWindow {
  DAY = 'day',
  WEEK = 'week',
  MONTH = 'month',
}
registerEnumType(UsageWindow, {
  name: 'UsageWindow',
  description: 'Buckets aligned to UTC calendar boundaries: days, ISO weeks (from Monday) or months.',
});

export enum UsageGroup {
  FEATURE = 'feature',
  MEMBER = 'member',
}
registerEnumType(UsageGroup, { name: 'UsageGroup', description: 'What usage buckets are broken down by, besides the window.' });

@ObjectType({ description: 'Credits consumed under one feature in one window (and by one member, when grouped by MEMBER).' })
export class UsageBucket {
  @Field(() => Date, { description: 'Start of the window (UTC); the first bucket may start before `from`.' })
  start!: Date;

  @Field(() => String)
  feature!: string;

  @Field(() => ID, { nullable: true, description: 'The member whose consumption this is, when grouped by MEMBER; null otherwise (or for rows with no actor).' })
  userId!: string | null;

  @Field(() => Int, { description: 'Credits consumed (completed CONSUMPTION rows, captures included).' })
  credits!: number;

  @Field(() => Int, { description: 'How many consumptions.' })
  count!: number;
}

/** How far `to` may be from `from`, per window, so a query returns a bounded number of buckets. */
export const MAX_USAGE_SPAN_DAYS: Record<UsageWindow, number> = {
  [UsageWindow.DAY]: 366,
  [UsageWindow.WEEK]: 5 * 366,
  [UsageWindow.MONTH]: 10 * 366,
};

/**
 * The balance right after the last COMPLETED row that took effect at or before `time`: one backward step on the
 * (account_id, effective_at, posting_seq) index. effective_at grows in posting order per account (posting core), so that row
 * is also the last one posted by then.
 */
export const BALANCE_AT_SQL = `
select balance_after from credit_transactions
where account_id = ? and effective_at <= ? and status = 'completed'
order by effective_at desc, posting_seq desc
limit 1`;

/**
 * Consumption per window and feature in one range scan of the same index: each row finds its window by binary
 * search (width_bucket) in the window starts, which generate_series lays on UTC calendar boundaries, and a hash
 * aggregate sums per window and feature. No per-row time zone arithmetic and no sort of the rows, only of the result.
 */
const USAGE_SQL = `
with windows as (
  select array_agg(w at time zone 'UTC' order by w) as starts
  from generate_series(date_trunc(?, ?::timestamptz at time zone 'UTC'), ?::timestamptz at time zone 'UTC', ?::interval) as w
)
select windows.starts[u.window_index] as start, u.feature, u.user_id, u.credits, u.count
from windows, lateral (
  select width_bucket(t.effective_at, windows.starts) as window_index, t.feature,
         case when ?::boolean then t.actor_id end as user_id,
         (-sum(t.amount))::int as credits, count(*)::int as count
  from credit_transactions t
  where t.account_id = ? and t.effective_at >= ? and t.effective_at < ? and t.type = 'consumption' and t.status = 'completed'
    and (?::text is null or t.feature = ?::text)
  group by 1, 2, 3
) u
order by 1, 2, 3
limit ?`;

/** At most this many buckets in one answer; a wider question is refused with a hint to narrow it. */
export const MAX_USAGE_BUCKETS = 1000;

export interface UsageRange {
  from: Date;
  to: Date;
  window: UsageWindow;
  feature?: string | null;
  /** Also break usage down by the member (the ledger row's actor). */
  byMember?: boolean;
}

/** The usage statement and its parameters (exported for the EXPLAIN check in the tests). */
export function usageQuery(accountId: string, range: UsageRange): [string, unknown[]] {
  const step = `1 ${range.window}`;
  const feature = range.feature ?? null;
  return [USAGE_SQL, [range.window, range.from, range.to, step, range.byMember === true, accountId, range.from, range.to, feature, feature, MAX_USAGE_BUCKETS + 1]];
}

export async function balanceAt(em: EntityManager, accountId: string, time: Date): Promise<number> {
  const [row] = await em.execute<{ balance_after: number }[]>(BALANCE_AT_SQL, [accountId, time]);
  return row ? Number(row.balance_after) : 0;
}

export async function creditUsage(em: EntityManager, accountId: string, range: UsageRange): Promise<UsageBucket[]> {
  const [sql, params] = usageQuery(accountId, range);
  const rows = await em.execute<{ start: Date | string; feature: string | null; user_id: string | null; credits: number; count: number }[]>(sql, params);
  if (rows.length > MAX_USAGE_BUCKETS) {
    throw new DomainError(ErrorCode.LIMIT_EXCEEDED, `More than ${MAX_USAGE_BUCKETS} usage buckets: ask for a shorter span, a wider window or one feature`, {
      resource: 'usage buckets',
      limit: MAX_USAGE_BUCKETS,
    });
  }
  return rows.map((row) => ({
    start: new Date(row.start),
    feature: row.feature ?? '',
    userId: row.user_id,
    credits: Number(row.credits),
    count: Number(row.count),
  }));
}
