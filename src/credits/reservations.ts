import type { EntityManager } from '@mikro-orm/postgresql';
import { GraphQLError } from 'graphql';
import { prefixedId } from '../database/ids.js';
import {
  badUserInput,
  idempotencyConflict,
  insufficientCredits,
  notFound,
  reservationAlreadyResolved,
  reservationExpired,
} from '../graphql/errors.js';
import type { User } from '../users/user.entity.js';
import { CreditTransactionType } from './credit-transaction.enums.js';
import { isUniqueViolation, RESERVATION_KEY_CONSTRAINT, RESERVE_LOCKED_SQL, RESERVE_SQL } from './ledger-sql.js';
import { type Account, type Postings, type Row, usedCredits } from './postings.js';
import { requestHash } from './request-hash.js';
import { Reservation, ReservationStatus } from './reservation.entity.js';

export interface ReserveRequest {
  amount: number;
  feature: string;
  idempotencyKey: string;
  ttlSeconds: number;
  description?: string | null;
}

/**
 * Reservations in the ledger: credits held (users.held_credits) for work whose cost is known only at the end, then
 * captured as one CONSUMPTION row, released, or expired. Lock order: the user's row, then the reservation's.
 */
export class Reservations {
  constructor(private readonly postings: Postings) {}

  /**
   * Holds credits for work whose cost is known only at the end. Idempotent per (user, key) like consume: the same
   * input returns the same reservation (whatever became of it), a different one is IDEMPOTENCY_CONFLICT.
   */
  async reserve(viewer: User, request: ReserveRequest): Promise<Reservation> {
    const hash = requestHash('reserve', { ...request, idempotencyKey: undefined });
    const expiresAt = new Date(this.postings.now().getTime() + request.ttlSeconds * 1000);
    const reservation = [
      prefixedId('rsv'),
      request.amount,
      request.feature,
      request.idempotencyKey,
      hash,
      request.description ?? null,
      expiresAt,
    ];
    try {
      const [row] = await this.postings.em.execute<Row[]>(RESERVE_SQL, [request.amount, viewer.id, request.amount, ...reservation]);
      if (row) return this.postings.em.map(Reservation, row);
    } catch (error) {
      if (!isUniqueViolation(error, RESERVATION_KEY_CONSTRAINT)) throw error;
    }
    const previous = await this.replayReservation(viewer.id, request.idempotencyKey, hash);
    if (previous) return previous;
    let account = await this.postings.accountOf(viewer.id);
    if (account.held > 0 || account.expiring > 0) {
      const outcome = await this.holdSlowly(viewer.id, request, reservation);
      if (outcome instanceof Reservation) return outcome;
      if (outcome === 'replay') {
        const replayed = await this.replayReservation(viewer.id, request.idempotencyKey, hash);
        if (!replayed) throw new Error(`reservation key ${request.idempotencyKey} was used but its row is gone`);
        return replayed;
      }
      account = outcome;
    }
    throw insufficientCredits(account.balance, request.amount, account.balance - account.held);
  }

  /**
   * Charges up to the held amount as one CONSUMPTION row and frees the rest of the hold. Resolves a reservation at
   * most once: capturing it again with the same amount returns the same result; anything else is an error.
   */
  async capture(viewer: User, reservationId: string, amount: number): Promise<Reservation> {
    return this.resolveReservation(viewer.id, reservationId, async (em, account, reservation) => {
      if (reservation.status === ReservationStatus.CAPTURED && reservation.capturedAmount === amount) return undefined;
      const unresolved = this.unresolved(reservation);
      if (unresolved) return unresolved;
      if (amount > reservation.amount) return badUserInput('amount', `must be at most the held amount (${reservation.amount})`);
      const row = await this.postings.debit(
        em,
        account,
        {
          userId: viewer.id,
          type: CreditTransactionType.CONSUMPTION,
          amount: -amount,
          description: reservation.description ?? usedCredits(amount, reservation.feature),
          feature: reservation.feature,
          metadata: { reservationId },
          heldDelta: -reservation.amount,
        },
        Math.min(amount, account.expiring),
      );
      await em.execute(
        `update reservations set status = 'captured', captured_amount = ?, transaction_id = ?, resolved_at = clock_timestamp()
         where id = ?`,
        [amount, row.id, reservationId],
      );
      return undefined;
    });
  }

  /** Frees a hold without a charge. Releasing it again returns it as it is; a captured or expired one is an error. */
  async release(viewer: User, reservationId: string): Promise<Reservation> {
    return this.resolveReservation(viewer.id, reservationId, async (em, account, reservation) => {
      if (reservation.status === ReservationStatus.RELEASED) return undefined;
      const unresolved = this.unresolved(reservation);
      if (unresolved) return unresolved;
      await em.execute('update users set held_credits = held_credits - ?, updated_at = now() where id = ?', [reservation.amount, viewer.id]);
      account.held -= reservation.amount;
      await em.execute(`update reservations set status = 'released', resolved_at = clock_timestamp() where id = ?`, [reservationId]);
      return undefined;
    });
  }

  /** A hold on the slow path: lock the user, expire what lapsed, then hold if the spendable balance covers it. */
  private async holdSlowly(userId: string, request: ReserveRequest, reservation: unknown[]): Promise<Reservation | Account | 'replay'> {
    try {
      return await this.postings.em.transactional(async (em) => {
        const account = await this.postings.lockAccount(em, userId);
        const used = await em.execute<Row[]>('select 1 from reservations where user_id = ? and idempotency_key = ?', [userId, request.idempotencyKey]);
        if (used.length > 0) return 'replay' as const;
        await this.postings.expireLapsed(em, account);
        if (account.balance - account.held < request.amount) return account;
        const [row] = await em.execute<Row[]>(RESERVE_LOCKED_SQL, [request.amount, userId, ...reservation]);
        account.held += request.amount;
        return em.map(Reservation, row!);
      });
    } catch (error) {
      if (!isUniqueViolation(error, RESERVATION_KEY_CONSTRAINT)) throw error;
      return 'replay';
    }
  }

  /**
   * Capture and release: the user row first, then (expiring what lapsed, which may be this very hold) the
   * reservation row. `resolve` returns an error to refuse; what was expired on the way commits either way. Once the
   * hold is resolved, grant credits it had kept from expiring are expired too.
   */
  private async resolveReservation(
    userId: string,
    reservationId: string,
    resolve: (em: EntityManager, account: Account, reservation: Reservation) => Promise<GraphQLError | undefined>,
  ): Promise<Reservation> {
    const outcome = await this.postings.em.transactional(async (em) => {
      const [owner] = await em.execute<Row[]>('select user_id from reservations where id = ?', [reservationId]);
      if (!owner || owner.user_id !== userId) return notFound('Reservation', reservationId);
      const account = await this.postings.lockAccount(em, userId);
      const now = this.postings.now();
      const expired = await this.postings.expireLapsed(em, account, now);
      const [locked] = await em.execute<Row[]>('select * from reservations where id = ? for update', [reservationId]);
      const refusal = await resolve(em, account, em.map(Reservation, locked!));
      if (refusal) return refusal;
      if (expired.creditsKept > 0) await this.postings.expireLapsed(em, account, now);
      const [resolved] = await em.execute<Row[]>('select * from reservations where id = ?', [reservationId]);
      return em.map(Reservation, resolved!);
    });
    if (outcome instanceof GraphQLError) throw outcome;
    return outcome;
  }

  /** The error for a reservation that is no longer HELD, or undefined while it is. */
  private unresolved(reservation: Reservation): GraphQLError | undefined {
    if (reservation.status === ReservationStatus.HELD) return undefined;
    if (reservation.status === ReservationStatus.EXPIRED) return reservationExpired(reservation.id, reservation.expiresAt);
    return reservationAlreadyResolved(reservation.id, reservation.status, reservation.capturedAmount ?? null);
  }

  /** The reservation a key was first used for, when the request is the same; a different request is a conflict. */
  private async replayReservation(userId: string, idempotencyKey: string, hash: string): Promise<Reservation | undefined> {
    const previous = await this.postings.em.fork().findOne(Reservation, { user: userId, idempotencyKey });
    if (!previous) return undefined;
    if (previous.requestHash !== hash) throw idempotencyConflict(idempotencyKey);
    return previous;
  }
}
