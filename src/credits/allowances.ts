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
  /** The GRANT row's idempotency key, which makes the grant exactly-once per user and period. */
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

const DUE_USERS_SQL = `
select u.id from users u
where u.plan_tier = ? and u.deleted_at is null and u.id > ?
  and not exists (select 1 from credit_transactions t where t.user_id = u.id and t.idempotency_key = ?)
order by u.id limit ?`;

const BATCH = 500;

export interface AllowanceSummary {
  period: string;
  granted: number;
  /** Users another instance (or an earlier run) had already granted this period. */
  existing: number;
}

/**
 * Grants this period's allowance (an expiring grant that lapses at the period's end) to every user of a tier that
 * has one and lacks it. Several instances may run this at once: the GRANT's idempotency key `allowance:YYYY-MM` and
 * the unique (user_id, idempotency_key) constraint make it exactly-once per user and period (see Ledger.grantAllowance).
 */
export async function grantAllowances(em: EntityManager, now: Date, settings: AllowanceSettings): Promise<AllowanceSummary> {
  const period = allowancePeriod(now);
  const summary: AllowanceSummary = { period: period.period, granted: 0, existing: 0 };
  const ledger = new Ledger(em, { workshopCreditCost: 0, now: () => now });
  for (const [tier, amount] of settings.perTier) {
    if (amount <= 0) continue;
    let after = '';
    for (;;) {
      const users = await em.execute<{ id: string }[]>(DUE_USERS_SQL, [tier, after, period.key, BATCH]);
      for (const { id } of users) {
        const outcome = await ledger.grantAllowance(
          { userId: id, tier, period: period.period, key: period.key, previousKey: period.previousKey, amount, rolloverCap: settings.rolloverCap, expiresAt: period.end },
          now,
        );
        if (outcome === 'granted') summary.granted += 1;
        else summary.existing += 1;
      }
      if (users.length < BATCH) break;
      after = users.at(-1)!.id;
    }
  }
  return summary;
}
