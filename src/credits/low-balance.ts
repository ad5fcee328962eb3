import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, Int, ObjectType } from 'type-graphql';
import { badUserInput, notFound } from '../core/errors.js';
import type { Row } from '../database/rows.js';

export const MAX_LOW_BALANCE_THRESHOLD = 1_000_000_000;

@ObjectType('LowBalanceAlert', {
  description:
    'balance.low is emitted once each time the spendable balance crosses from at or above `threshold` to below it (and balance.depleted when it reaches 0).',
})
export class LowBalanceAlert {
  @Field(() => Int, { nullable: true, description: 'null: no low-balance alert.' })
  threshold!: number | null;

  @Field(() => Boolean, { description: 'Whether the spendable balance is under the threshold now.' })
  below!: boolean;
}

const toAlert = (row: Row): LowBalanceAlert => {
  const threshold = row.low_balance_threshold == null ? null : Number(row.low_balance_threshold);
  return { threshold, below: threshold !== null && Number(row.credit_balance) - Number(row.held_credits) < threshold };
};

export async function lowBalanceAlertOf(em: EntityManager, accountId: string): Promise<LowBalanceAlert> {
  const [row] = await em.execute<Row[]>('select low_balance_threshold, credit_balance, held_credits from accounts where id = ?', [accountId]);
  if (!row) throw notFound('Account', accountId);
  return toAlert(row);
}

/**
 * Sets (or, with null, removes) the account's low-balance threshold. The alert itself is the database's (a trigger
 * sees each change of the balance, before and after, under the account's row lock), so concurrent spending crosses
 * the threshold, and emits balance.low, exactly once; setting a threshold the balance is already under emits nothing.
 */
export async function setLowBalanceThreshold(em: EntityManager, accountId: string, threshold: number | null): Promise<LowBalanceAlert> {
  if (threshold !== null && (!Number.isInteger(threshold) || threshold < 0 || threshold > MAX_LOW_BALANCE_THRESHOLD)) {
    throw badUserInput('input.threshold', `must be a whole number of credits from 0 to ${MAX_LOW_BALANCE_THRESHOLD.toLocaleString('en-US')}, or null to turn the alert off`);
  }
  const [row] = await em.execute<Row[]>(
    'update accounts set low_balance_threshold = ?, updated_at = now() where id = ? returning low_balance_threshold, credit_balance, held_credits',
    [threshold, accountId],
  );
  if (!row) throw notFound('Account', accountId);
  return toAlert(row);
}
