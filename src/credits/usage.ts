import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, Int, ObjectType, registerEnumType } from 'type-graphql';
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

@ObjectType({ description: 'Credits consumed under one feature in one window.' })
export class UsageBucket {
  @Field(() => Date, { description: 'Start of the window (UTC); the first bucket may start before `from`.' })
  start!: Date;

  @Field(() => String)
  feature!: string;

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
 * (user_id, effective_at, posting_seq) index. effective_at grows in posting order per user (postings.ts), so that row
 * is also the last one posted by then.
 */
export const BALANCE_AT_SQL = `
select balance_after from credit_transactions
where user_id = ? and effective_at <= ? and status = 'completed'
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
select windows.starts[u.window_index] as start, u.feature, u.credits, u.count
from windows, lateral (
  select width_bucket(t.effective_at, windows.starts) as window_index, t.feature,
         (-sum(t.amount))::int as credits, count(*)::int as count
  from credit_transactions t
  where t.user_id = ? and t.effective_at >= ? and t.effective_at < ? and t.type = 'consumption' and t.status = 'completed'
    and (?::text is null or t.feature = ?::text)
  group by 1, 2
) u
order by 1, 2
limit ?`;

/** At most this many buckets in one answer; a wider question is refused with a hint to narrow it. */
export const MAX_USAGE_BUCKETS = 1000;

export interface UsageRange {
  from: Date;
  to: Date;
  window: UsageWindow;
  feature?: string | null;
}

/** The usage statement and its parameters (exported for the EXPLAIN check in the tests). */
export function usageQuery(userId: string, range: UsageRange): [string, unknown[]] {
  const step = `1 ${range.window}`;
  const feature = range.feature ?? null;
  return [USAGE_SQL, [range.window, range.from, range.to, step, userId, range.from, range.to, feature, feature, MAX_USAGE_BUCKETS + 1]];
}

export async function balanceAt(em: EntityManager, userId: string, time: Date): Promise<number> {
  const [row] = await em.execute<{ balance_after: number }[]>(BALANCE_AT_SQL, [userId, time]);
  return row ? Number(row.balance_after) : 0;
}

export async function creditUsage(em: EntityManager, userId: string, range: UsageRange): Promise<UsageBucket[]> {
  const [sql, params] = usageQuery(userId, range);
  const rows = await em.execute<{ start: Date | string; feature: string | null; credits: number; count: number }[]>(sql, params);
  if (rows.length > MAX_USAGE_BUCKETS) {
    throw new DomainError(ErrorCode.LIMIT_EXCEEDED, `More than ${MAX_USAGE_BUCKETS} usage buckets: ask for a shorter span, a wider window or one feature`, {
      resource: 'usage buckets',
      limit: MAX_USAGE_BUCKETS,
    });
  }
  return rows.map((row) => ({ start: new Date(row.start), feature: row.feature ?? '', credits: Number(row.credits), count: Number(row.count) }));
}
