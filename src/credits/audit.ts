import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, ID, Int, ObjectType } from 'type-graphql';
import { ListSize } from '../core/cost.js';

/** At most this many drifted ids are listed in one answer. */
export const MAX_LISTED_DRIFT = 1000;

@ObjectType({ description: 'Result of recomputing the ledger invariants from the rows themselves, for every account checked.' })
export class LedgerAudit {
  @Field(() => Int, { description: 'Accounts checked: users\u2019 personal ones and organizations\u2019.' })
  accountsChecked!: number;

  @ListSize(MAX_LISTED_DRIFT)
  @Field(() => [ID], {
    description: `Accounts (usr_ or org_) whose balance, running balanceAfter, held, expiring or open holds, or whose members' monthly spend and holds, disagree with their ledger rows, reservations and grants (the first ${MAX_LISTED_DRIFT} by id; driftedCount counts them all).`,
  })
  driftedAccountIds!: string[];

  @Field(() => Int, { description: 'Personal accounts checked (one per user).' })
  usersChecked!: number;

  @ListSize(MAX_LISTED_DRIFT)
  @Field(() => [ID], { description: 'The users among driftedAccountIds.' })
  driftedUserIds!: string[];

  @Field(() => Int, { description: 'How many accounts drifted, all of them.' })
  driftedCount!: number;

  @Field(() => Boolean)
  ok!: boolean;
}

/**
 * Invariant 2 (balance = sum of COMPLETED amounts) and invariant 3 (each COMPLETED row's balanceAfter is the running
 * sum in posting order), and the bookkeeping of holds and expiring grants: held_credits is the sum of the account's
 * HELD reservations and open_reservations their number, expiring_credits the sum of what is left of its grants,
 * every grant's remaining is its amount minus what allocations took from it, no debit row allocated more than it
 * debited, and each organization member's held credits and this month's spend are what their reservations and
 * consumption rows say. For one account or all of them, in one statement.
 */
const AUDIT_SQL = `
with scope as (select ?::text as account_id),
audited as (select a.* from accounts a, scope where scope.account_id is null or a.id = scope.account_id),
completed as (
  select t.account_id, t.amount, t.balance_after,
         sum(t.amount) over (partition by t.account_id order by t.posting_seq rows unbounded preceding) as running
  from credit_transactions t join audited a on a.id = t.account_id
  where t.status = 'completed'
),
drift as (
  select a.id from audited a
  left join (select account_id, sum(amount) as total from completed group by account_id) s on s.account_id = a.id
  where a.credit_balance <> coalesce(s.total, 0)
  union
  select account_id from completed where running <> balance_after
  union
  select a.id from audited a
  where a.held_credits <> (select coalesce(sum(r.amount), 0) from reservations r where r.account_id = a.id and r.status = 'held')
     or a.open_reservations <> (select count(*) from reservations r where r.account_id = a.id and r.status = 'held')
     or a.expiring_credits <> (select coalesce(sum(g.remaining), 0) from credit_grants g where g.account_id = a.id)
  union
  select g.account_id from credit_grants g join audited a on a.id = g.account_id
  where g.remaining <> g.amount - (select coalesce(sum(x.amount), 0) from credit_allocations x where x.grant_id = g.transaction_id)
  union
  select t.account_id from credit_transactions t join audited a on a.id = t.account_id
  join credit_allocations x on x.transaction_id = t.id
  group by t.id, t.account_id, t.amount having sum(x.amount) > -t.amount
  union
  select m.organization_id from organization_members m join audited a on a.id = m.organization_id
  where m.held_credits <> (
          select coalesce(sum(r.amount), 0) from reservations r
          where r.account_id = m.organization_id and r.actor_id = m.user_id and r.status = 'held')
     or (m.spend_month is not null and m.spent_credits <> (
          select coalesce(-sum(t.amount), 0) from credit_transactions t
          where t.account_id = m.organization_id and t.actor_id = m.user_id and t.type = 'consumption' and t.status = 'completed'
            and t.effective_at >= m.spend_month::timestamp at time zone 'UTC'
            and t.effective_at < (m.spend_month + interval '1 month')::timestamp at time zone 'UTC'))
)
select (select count(*)::int from audited) as accounts_checked,
       (select count(*)::int from audited where kind = 'personal') as users_checked,
       (select count(*)::int from drift) as drifted_count,
       coalesce((select array_agg(id order by id) from (select id from drift order by id limit ?) listed), '{}') as drifted`;

export async function auditLedger(em: EntityManager, accountId?: string | null): Promise<LedgerAudit> {
  const [row] = await em.execute<{ accounts_checked: number; users_checked: number; drifted_count: number; drifted: string[] }[]>(AUDIT_SQL, [
    accountId ?? null,
    MAX_LISTED_DRIFT,
  ]);
  const driftedAccountIds = row?.drifted ?? [];
  const driftedCount = row?.drifted_count ?? 0;
  return {
    accountsChecked: row?.accounts_checked ?? 0,
    driftedAccountIds,
    usersChecked: row?.users_checked ?? 0,
    driftedUserIds: driftedAccountIds.filter((id) => id.startsWith('usr_')),
    driftedCount,
    ok: driftedCount === 0,
  };
}
