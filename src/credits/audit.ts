import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, ID, Int, ObjectType } from 'type-graphql';

@ObjectType({ description: 'Result of recomputing the ledger invariants from the rows themselves.' })
export class LedgerAudit {
  @Field(() => Int)
  usersChecked!: number;

  @Field(() => [ID], { description: 'Users whose balance or running balanceAfter disagrees with their ledger.' })
  driftedUserIds!: string[];

  @Field(() => Boolean)
  ok!: boolean;
}

/**
 * Invariant 2 (balance = sum of COMPLETED amounts) and invariant 3 (each COMPLETED row's balanceAfter is the running
 * sum in posting order), for one user or all of them, in one statement.
 */
const AUDIT_SQL = `
with completed as (
  select user_id, balance_after,
         sum(amount) over (partition by user_id order by posting_seq rows unbounded preceding) as running
  from credit_transactions
  where status = 'completed' and (?::text is null or user_id = ?::text)
),
drift as (
  select u.id from users u
  left join (select user_id, sum(amount) as total from credit_transactions
             where status = 'completed' and (?::text is null or user_id = ?::text) group by user_id) s on s.user_id = u.id
  where u.credit_balance <> coalesce(s.total, 0) and (?::text is null or u.id = ?::text)
  union
  select user_id from completed where running <> balance_after
)
select (select count(*)::int from users where ?::text is null or id = ?::text) as users_checked,
       coalesce((select array_agg(id order by id) from drift), '{}') as drifted`;

export async function auditLedger(em: EntityManager, userId?: string | null): Promise<LedgerAudit> {
  const id = userId ?? null;
  const [row] = await em.execute<{ users_checked: number; drifted: string[] }[]>(AUDIT_SQL, [id, id, id, id, id, id, id, id]);
  const driftedUserIds = row?.drifted ?? [];
  return { usersChecked: row?.users_checked ?? 0, driftedUserIds, ok: driftedUserIds.length === 0 };
}
