import type { EntityManager } from '@mikro-orm/postgresql';
import type { Row } from '../../database/rows.js';
import type { CreditTransaction } from '../credit-transaction.model.js';
import type { Account, Posting, Postings } from './postings.js';
import { SHRINK_HOLDS } from './statements.js';

export interface Reversal {
  row: CreditTransaction;
  /** Credits the row took from the balance (-row.amount). */
  recovered: number;
  /** Of those, what open holds gave up. */
  fromHolds: number;
}

/**
 * Takes back `credits` of a refunded or disputed purchase, under the account's lock: first from the spendable balance,
 * then from open holds, newest first (each hold shrinks and records what it gave up, so a capture can charge only
 * what is left). Credits that never expire go before expiring ones. Only what the balance does not hold at all stays
 * unrecovered, recorded on the row: refunded credits can never be spent, held or not.
 */
export async function postReversal(
  postings: Postings,
  em: EntityManager,
  account: Account,
  posting: Omit<Posting, 'amount' | 'heldDelta'>,
  credits: number,
): Promise<Reversal> {
  const fromSpendable = Math.min(credits, Math.max(0, account.balance - account.held));
  const fromHolds = Math.min(credits - fromSpendable, account.held);
  if (fromHolds > 0) await shrinkHolds(em, account.id, fromHolds);
  const recovered = fromSpendable + fromHolds;
  const fromGrants = Math.max(0, recovered - (account.balance - account.expiring));
  const row = await postings.debit(
    em,
    account,
    {
      ...posting,
      amount: -recovered,
      heldDelta: -fromHolds,
      metadata: { ...posting.metadata, unrecoveredCredits: credits - recovered, ...(fromHolds > 0 ? { takenFromHolds: fromHolds } : {}) },
    },
    fromGrants,
  );
  return { row, recovered, fromHolds };
}

/** Locks the account's open holds, newest first, and shrinks them by `total` between them. */
async function shrinkHolds(em: EntityManager, accountId: string, total: number): Promise<void> {
  const holds = await em.execute<Row[]>(
    `select id, amount from reservations where account_id = ? and status = 'held' and amount > 0
     order by created_at desc, id desc for update`,
    [accountId],
  );
  const takes: { id: string; take: number }[] = [];
  let left = total;
  for (const hold of holds) {
    if (left === 0) break;
    const take = Math.min(left, Number(hold.amount));
    takes.push({ id: String(hold.id), take });
    left -= take;
  }
  // accounts.held_credits is the sum of these holds, so this means the two disagree: stop.
  if (left > 0) throw new Error(`open holds of ${accountId} hold less than the ${total} credits expected`);
  await em.execute(SHRINK_HOLDS.text, SHRINK_HOLDS.bind({ takes: JSON.stringify(takes) }));
}
