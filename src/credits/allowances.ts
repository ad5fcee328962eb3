import type { EntityManager } from '@mikro-orm/postgresql';
import { Ledger } from './ledger.js';
import { ALLOWANCE_KEY_PREFIX } from './idempotency-keys.js';

export interface AllowanceSettings {
  /** Credits granted per UTC calendar month, by plan tier; tiers not listed get none. */
  perTier: ReadonlyMap<string, number>;
  /** At most this much of last month's unspent allowance carries over into the new one (0: none). */
  rolloverCap: number;
}

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

/** Accounts (users' and organizations') on a tier that lack this period's allowance, after `after` in id order. */
const DUE_ACCOUNTS_SQL = `
select a.id from accounts a left join users u on u.id = a.id
where a.plan_tier = ? and u.deleted_at is null and a.id > ?
  and not exists (select 1 from credit_transactions t where t.account_id = a.id and t.idempotency_key = ?)
order by a.id limit ?`;

const BATCH = 500;

export interface AllowanceSummary {
  period: string;
  granted: number;
  /** Users another instance (or an earlier run) had already granted this period. */
  existing: number;
}

/**
 * Grants this period's allowance (an expiring grant that lapses at the period's end) to every account (a user's or an
 * organization's) of a tier that has one and lacks it. Several instances may run this at once: the GRANT's
 * idempotency key `allowance:YYYY-MM` and the unique (account_id, idempotency_key) constraint make it exactly-once
 * per account and period (see Ledger.grantAllowance).
 */
export async function grantAllowances(em: EntityManager, now: Date, settings: AllowanceSettings): Promise<AllowanceSummary> {
  const period = allowancePeriod(now);
  const summary: AllowanceSummary = { period: period.period, granted: 0, existing: 0 };
  const ledger = new Ledger(em, { workshopCreditCost: 0, now: () => now });
  for (const [tier, amount] of settings.perTier) {
    if (amount <= 0) continue;
    let after = '';
    for (;;) {
      const accounts = await em.execute<{ id: string }[]>(DUE_ACCOUNTS_SQL, [tier, after, period.key, BATCH]);
      for (const { id } of accounts) {
        const outcome = await ledger.grantAllowance(
          { accountId: id, tier, period: period.period, key: period.key, previousKey: period.previousKey, amount, rolloverCap: settings.rolloverCap, expiresAt: period.end },
          now,
        );
        if (outcome === 'granted') summary.granted += 1;
        else summary.existing += 1;
      }
      if (accounts.length < BATCH) break;
      after = accounts.at(-1)!.id;
    }
  }
  return summary;
}
