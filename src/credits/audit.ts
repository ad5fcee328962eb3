import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, ID, Int, ObjectType } from 'type-graphql';
import { ListSize } from '../core/cost.js';

/** At most this many drifted ids are listed in one answer. */
export const MAX_LISTED_DRIFT = 1000;

@ObjectType({ description: 'Result of recomputing the ledger invariants from the rows themselves.' })
export class LedgerAudit {
  @Field(() => Int)
  usersChecked!: number;

  @ListSize(MAX_LISTED_DRIFT)
  @Field(() => [ID], {
    description: `Users whose balance, running balanceAfter, held or expiring credits disagree with their ledger rows, reservations and grants (the first ${MAX_LISTED_DRIFT} by id; driftedCount counts them all).`,
  })
  driftedUserIds!: string[];

  @Field(() => Int, { description: 'How many users drifted, all of them.' })
  driftedCount!: number;

  @Field(() => Boolean)
  ok!: boolean;
}

/**
 * Invariant 2 (balance = sum of COMPLETED amounts) and invariant 3 (each COMPLETED row's balanceAfter is the running
 * sum in posting order), and the bookkeeping of holds and expiring grants: held_credits is the sum of the user's HELD
 * reservations, expiring_credits the sum of what is left of their grants, every grant's remaining is its amount
 * minus what allocations took from it, and no debit row allocated more than it debited. For one user or all of
 * them, in one statement.
 */
const AUDIT_SQL = `
with scope as (select ?::text as user_id),
audited as (select u.* from users u, scope where scope.user_id is null or u.id = scope.user_id),
completed as (
  select t.user_id, t.amount, t.balance_after,
         sum(t.amount) over (partition by t.user_id order by t.posting_seq rows unbounded preceding) as running
  from credit_transactions t join audited u on u.id = t.user_id
  where t.status = 'completed'
),
drift as (
  select u.id from audited u
  left join (select user_id, sum(amount) as total from completed group by user_id) s on s.user_id = u.id
  where u.credit_balance <> coalesce(s.total, 0)
  union
  select user_id from completed where running <> balance_after
  union
  select u.id from audited u
  where u.held_credits <> (select coalesce(sum(r.amount), 0) from reservations r where r.user_id = u.id and r.status = 'held')
     or u.expiring_credits <> (select coalesce(sum(g.remaining), 0) from credit_grants g where g.user_id = u.id)
  union
  select g.user_id from credit_grants g join audited u on u.id = g.user_id
  where g.remaining <> g.amount - (select coalesce(sum(a.amount), 0) from credit_allocations a where a.grant_id = g.transaction_id)
  union
  select t.user_id from credit_transactions t join audited u on u.id = t.user_id
  join credit_allocations a on a.transaction_id = t.id
  group by t.id, t.user_id, t.amount having sum(a.amount) > -t.amount
)
select (select count(*)::int from audited) as users_checked,
       (select count(*)::int from drift) as drifted_count,
       coalesce((select array_agg(id order by id) from (select id from drift order by id limit ?) listed), '{}') as drifted`;

export async function auditLedger(em: EntityManager, userId?: string | null): Promise<LedgerAudit> {
  const id = userId ?? null;
  const [row] = await em.execute<{ users_checked: number; drifted_count: number; drifted: string[] }[]>(AUDIT_SQL, [id, MAX_LISTED_DRIFT]);
  const driftedUserIds = row?.drifted ?? [];
  const driftedCount = row?.drifted_count ?? 0;
  return { usersChecked: row?.users_checked ?? 0, driftedUserIds, driftedCount, ok: driftedCount === 0 };
}
