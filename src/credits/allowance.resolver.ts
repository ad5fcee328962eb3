import DataLoader from 'dataloader';
import { Ctx, FieldResolver, Resolver, Root, UseMiddleware } from 'type-graphql';
import { Allowance } from '../accounts/allowance.model.js';
import { perRequest, type RequestContext } from '../core/context.js';
import { pgTextArray, type Row } from '../database/rows.js';
import { Organization } from '../organizations/organization.model.js';
import { OwnDataOnly } from '../users/own-data.js';
import { User } from '../users/user.model.js';

/**
 * Each account's current plan period: its period grants (metadata.allowance) that have started and not yet ended,
 * grouped by period, the latest-starting one winning (a subscription begun mid-month over the month's allowance).
 * Calendar allowances granted before periods recorded their start began a month before they end.
 */
const CURRENT_PERIODS_SQL = `
select distinct on (g.account_id) g.account_id, p.start, g.expires_at as end,
  sum(g.amount) over w as granted, sum(g.remaining) over w as remaining
from credit_grants g join credit_transactions t on t.id = g.transaction_id
cross join lateral (select coalesce((t.metadata->'allowance'->>'start')::timestamptz, g.expires_at - interval '1 month') as start) p
where g.account_id = any(?::text[]) and t.metadata->'allowance' is not null and g.expires_at > now() and p.start <= now()
window w as (partition by g.account_id, g.expires_at, coalesce(t.metadata->'allowance'->>'subscriptionId', ''))
order by g.account_id, p.start desc`;

/** Accounts whose subscription has a current period, for the accounts without grants in it (past due, a plan without credits). */
const SUBSCRIPTION_PERIODS_SQL = `
select id as account_id, current_period_start as start, current_period_end as end from accounts
where id = any(?::text[]) and current_period_start <= now() and current_period_end > now() and subscription_status in ('trialing', 'active', 'past_due')`;

const allowances = (ctx: RequestContext) =>
  new DataLoader<string, Allowance | null>(async (accountIds) => {
    const ids = pgTextArray(accountIds);
    const byAccount = new Map<string, Allowance>();
    for (const row of await ctx.em.execute<Row[]>(SUBSCRIPTION_PERIODS_SQL, [ids])) {
      byAccount.set(String(row.account_id), { periodStart: row.start as Date, periodEnd: row.end as Date, granted: 0, used: 0, remaining: 0 });
    }
    for (const row of await ctx.em.execute<Row[]>(CURRENT_PERIODS_SQL, [ids])) {
      const granted = Number(row.granted);
      const remaining = Number(row.remaining);
      byAccount.set(String(row.account_id), { periodStart: row.start as Date, periodEnd: row.end as Date, granted, used: granted - remaining, remaining });
    }
    return accountIds.map((id) => byAccount.get(id) ?? null);
  });

const ALLOWANCE = {
  nullable: true,
  description: "The current period's credits from the plan and how many are used; null when the plan gives none this period.",
} as const;

@Resolver(() => User)
export class UserAllowanceResolver {
  @UseMiddleware(OwnDataOnly)
  @FieldResolver(() => Allowance, ALLOWANCE)
  allowance(@Root() user: User, @Ctx() ctx: RequestContext): Promise<Allowance | null> {
    return perRequest(ctx, allowances).load(user.id);
  }
}

@Resolver(() => Organization)
export class OrganizationAllowanceResolver {
  @FieldResolver(() => Allowance, ALLOWANCE)
  allowance(@Root() organization: Organization, @Ctx() ctx: RequestContext): Promise<Allowance | null> {
    return perRequest(ctx, allowances).load(organization.id);
  }
}
