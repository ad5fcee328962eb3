import type { EntityManager } from '@mikro-orm/postgresql';
import { prefixedId } from '../../core/ids.js';
import { queryRows } from '../../database/native-query.js';
import type { Row } from '../../database/rows.js';
import { CreditTransactionType } from '../credit-transaction.enums.js';
import type { CreditTransaction } from '../credit-transaction.model.js';
import { toReservation, type Reservation } from '../reservation.model.js';
import { usedCredits, type Account, type Member, type Postings } from './postings.js';
import { COUNT_MEMBER_HOLD, HOLD, HOLD_LOCKED, HOLD_MEMBER, MARK_CAPTURED, RELEASE } from './statements.js';

export interface Hold {
  accountId: string;
  /** Who holds: the user; on an organization's wallet, the member whose monthly limit it counts against. */
  actorId: string;
  amount: number;
  feature: string;
  idempotencyKey: string;
  requestHash: string;
  description: string | null;
  expiresAt: Date;
}

const holdParams = (hold: Hold) => ({ id: prefixedId('rsv'), ...hold });

/**
 * A hold in one statement, when the account has no expiring credits, enough spendable and fewer than `maxOpen` open
 * holds (and, `asMember`, the member's limit has room); undefined otherwise.
 */
export async function holdFast(postings: Postings, em: EntityManager, hold: Hold, maxOpen: number, asMember: boolean): Promise<Reservation | undefined> {
  const [row] = asMember
    ? await queryRows(em, HOLD_MEMBER.text, HOLD_MEMBER.bind({ ...holdParams(hold), maxOpen, month: postings.month() }), 'tally_hold_member')
    : await queryRows(em, HOLD.text, HOLD.bind({ ...holdParams(hold), maxOpen }), 'tally_hold');
  return row ? toReservation(row) : undefined;
}

/** A hold under the account's lock (and the member's), the checks done by the caller; `account` follows what it holds. */
export async function holdLocked(em: EntityManager, account: Account, hold: Hold, member?: Member): Promise<Reservation> {
  const [row] = await em.execute<Row[]>(HOLD_LOCKED.text, HOLD_LOCKED.bind(holdParams(hold)));
  if (member) {
    await em.execute(COUNT_MEMBER_HOLD.text, COUNT_MEMBER_HOLD.bind({ organizationId: member.organizationId, userId: member.userId, amount: hold.amount }));
    member.held += hold.amount;
  }
  account.held += hold.amount;
  account.openReservations += 1;
  return toReservation(row!);
}

/**
 * Charges `amount` of a HELD reservation as one CONSUMPTION row (drawing on expiring grants first) and frees the
 * whole hold, under the account's lock; on an organization's wallet, the member's hold becomes what they spent.
 */
export async function captureHold(
  postings: Postings,
  em: EntityManager,
  account: Account,
  reservation: Reservation,
  amount: number,
  actorId: string,
): Promise<CreditTransaction> {
  const row = await postings.debit(
    em,
    account,
    {
      accountId: reservation.accountId,
      actorId,
      type: CreditTransactionType.CONSUMPTION,
      amount: -amount,
      description: reservation.description ?? usedCredits(amount, reservation.feature),
      feature: reservation.feature,
      metadata: { reservationId: reservation.id },
      heldDelta: -reservation.amount,
    },
    Math.min(amount, account.expiring),
  );
  await em.execute(
    MARK_CAPTURED.text,
    MARK_CAPTURED.bind({ reservationId: reservation.id, accountId: reservation.accountId, amount, transactionId: row.id, month: postings.month(), resolvedBy: actorId }),
  );
  account.openReservations -= 1;
  return row;
}

/** Frees a HELD reservation without a charge, under the account's lock, recording who released it and why. */
export async function releaseHold(em: EntityManager, account: Account, reservation: Reservation, resolvedBy: string, reason: string | null): Promise<void> {
  await em.execute(RELEASE.text, RELEASE.bind({ reservationId: reservation.id, accountId: reservation.accountId, resolvedBy, reason }));
  account.held -= reservation.amount;
  account.openReservations -= 1;
}
