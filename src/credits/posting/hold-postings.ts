import type { EntityManager } from '@mikro-orm/postgresql';
import { prefixedId } from '../../core/ids.js';
import { queryRows } from '../../database/native-query.js';
import type { Row } from '../../database/rows.js';
import { CreditTransactionType } from '../credit-transaction.enums.js';
import type { CreditTransaction } from '../credit-transaction.model.js';
import { toReservation, type Reservation } from '../reservation.model.js';
import { usedCredits, type Account, type Postings } from './postings.js';
import { HOLD, HOLD_LOCKED, MARK_CAPTURED, RELEASE } from './statements.js';

export interface Hold {
  userId: string;
  amount: number;
  feature: string;
  idempotencyKey: string;
  requestHash: string;
  description: string | null;
  expiresAt: Date;
}

const holdParams = (hold: Hold) => ({ id: prefixedId('rsv'), ...hold });

/**
 * A hold in one statement, when the user has no expiring credits, enough spendable and fewer than `maxOpen` open
 * holds; undefined otherwise.
 */
export async function holdFast(em: EntityManager, hold: Hold, maxOpen: number): Promise<Reservation | undefined> {
  const [row] = await queryRows(em, HOLD.text, HOLD.bind({ ...holdParams(hold), maxOpen }));
  return row ? toReservation(row) : undefined;
}

/** How many HELD reservations the user has (exact under their row lock). */
export async function openHolds(em: EntityManager, userId: string): Promise<number> {
  const [row] = await em.execute<{ n: number }[]>(`select count(*)::int as n from reservations where user_id = ? and status = 'held'`, [userId]);
  return row?.n ?? 0;
}

/** A hold under the user's lock, the checks done by the caller; `account` follows what it holds. */
export async function holdLocked(em: EntityManager, account: Account, hold: Hold): Promise<Reservation> {
  const [row] = await em.execute<Row[]>(HOLD_LOCKED.text, HOLD_LOCKED.bind(holdParams(hold)));
  account.held += hold.amount;
  return toReservation(row!);
}

/**
 * Charges `amount` of a HELD reservation as one CONSUMPTION row (drawing on expiring grants first) and frees the
 * whole hold, under the user's lock.
 */
export async function captureHold(
  postings: Postings,
  em: EntityManager,
  account: Account,
  reservation: Reservation,
  amount: number,
): Promise<CreditTransaction> {
  const row = await postings.debit(
    em,
    account,
    {
      userId: reservation.userId,
      type: CreditTransactionType.CONSUMPTION,
      amount: -amount,
      description: reservation.description ?? usedCredits(amount, reservation.feature),
      feature: reservation.feature,
      metadata: { reservationId: reservation.id },
      heldDelta: -reservation.amount,
    },
    Math.min(amount, account.expiring),
  );
  await em.execute(MARK_CAPTURED.text, MARK_CAPTURED.bind({ reservationId: reservation.id, amount, transactionId: row.id }));
  return row;
}

/** Frees a HELD reservation without a charge, under the user's lock. */
export async function releaseHold(em: EntityManager, account: Account, reservation: Reservation): Promise<void> {
  await em.execute(RELEASE.text, RELEASE.bind({ reservationId: reservation.id }));
  account.held -= reservation.amount;
}
