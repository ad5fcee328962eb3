import type { EntityManager } from '@mikro-orm/postgresql';
import { Ledger } from './ledger.js';
import type { Row } from '../database/rows.js';
import { ALLOWANCE_KEY_PREFIX } from './idempotency-keys.js';

export interface AllowancePeriod {
  /** `YYYY-MM` of the UTC calendar month. */
  period: string;
  /** The GRANT row's idempotency key, which makes the grant exactly-once per account and period. */
  key: string;
  previousKey: string;
  start: Date;
  end: Date;
}


const monthKey = (year: number, month: number) => {
  const date = new Date(Date.UTC(year, month, 1));
  return `${date.getUTCFullYear()}-${String(date.getUTCMonth() + 1).padStart(2, '0')}`;
};

/** The UTC calendar month that `now` falls in. */
export function allowancePeriod(now: Date): AllowancePeriod {
  const year = now.getUTCFullYear();
  const month = now.getUTCMonth();
  const period = monthKey(year, month);
  return {
    period,
    key: `${ALLOWANCE_KEY_PREFIX}${period}`,
    previousKey: `${ALLOWANCE_KEY_PREFIX}${monthKey(year, month - 1)}`,
    start: new Date(Date.UTC(year, month, 1)),
    end: new Date(Date.UTC(year, month + 1, 1)),
  };
}

/**
 * Accounts (users' and organizations') on a plan that lack this period's allowance, after `after` in id order. An
 * account with a subscription that is live (trialing, active or past due) gets its credits from its invoices instead.
 */
const DUE_ACCOUNTS_SQL = `
select a.id from accounts a left join users u on u.id = a.id
where a.plan_tier = ? and u.deleted_at is null and a.id > ?
  and (a.subscription_status is null or a.subscription_status not in ('trialing', 'active', 'past_due'))
  and not exists (select 1 from credit_transactions t where t.account_id = a.id and t.idempotency_key = ?)
order by a.id limit ?`;

const BATCH = 500;

export interface AllowanceSummary {
  period: string;
  granted: number;
  /** Accounts another instance (or an earlier run) had already granted this period. */
  existing: number;
}

/**
 * Grants this calendar month's allowance (an expiring grant that lapses at the month's end) to every account (a
 * user's or an organization's) on a plan with monthly credits that lacks it, but not to accounts a live subscription
 * pays for. The plans table says how much and the rollover cap. Several instances may run this at once: the GRANT's
 * idempotency key `allowance:YYYY-MM` and the account's row lock make it exactly-once per account and period (see
 * PeriodGrants).
 */
export async function grantAllowances(em: EntityManager, now: Date): Promise<AllowanceSummary> {
  const period = allowancePeriod(now);
  const summary: AllowanceSummary = { period: period.period, granted: 0, existing: 0 };
  const ledger = new Ledger(em, { workshopCreditCost: 0, now: () => now });
  const plans = await em.execute<Row[]>('select id, monthly_credits, rollover_cap from plans where monthly_credits > 0 order by id');
  for (const plan of plans) {
    const tier = String(plan.id);
    let after = '';
    for (;;) {
      const accounts = await em.execute<{ id: string }[]>(DUE_ACCOUNTS_SQL, [tier, after, period.key, BATCH]);
      for (const { id } of accounts) {
        const outcome = await ledger.periods.grant(
          {
            accountId: id,
            key: period.key,
            plan: tier,
            credits: Number(plan.monthly_credits),
            start: period.start,
            end: period.end,
            rolloverCap: Number(plan.rollover_cap ?? 0),
            subscriptionId: null,
            label: period.period,
            source: 'allowance',
          },
          now,
        );
        if (outcome.outcome === 'granted') summary.granted += 1;
        else summary.existing += 1;
      }
      if (accounts.length < BATCH) break;
      after = accounts.at(-1)!.id;
    }
  }
  return summary;
}
