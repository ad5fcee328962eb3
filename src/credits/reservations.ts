import type { EntityManager } from '@mikro-orm/postgresql';
import { pgTimestamp } from '../core/date-time.js';
import {
  badUserInput,
  DomainError,
  idempotencyConflict,
  insufficientCredits,
  limitExceeded,
  notFound,
  reservationAlreadyResolved,
  reservationExpired,
} from '../core/errors.js';
import { requestHash } from '../core/request-hash.js';
import { isUniqueViolation } from '../database/pg-errors.js';
import type { Row } from '../database/rows.js';
import { RESERVATION_KEY_UNIQUE } from './constraints.js';
import { captureHold, holdFast, holdLocked, openHolds, releaseHold, type Hold } from './posting/hold-postings.js';
import { DEFAULT_MAX_OPEN_RESERVATIONS, type Account, type Postings } from './posting/postings.js';
import { ReservationStatus } from './reservation-status.js';
import { toReservation, type Reservation } from './reservation.model.js';

export interface ReserveRequest {
  amount: number;
  feature: string;
  idempotencyKey: string;
  ttlSeconds: number;
  description?: string | null;
}

type Resolution = (em: EntityManager, account: Account, reservation: Reservation) => Promise<DomainError | undefined>;

/**
 * Reservations in the ledger: credits held (users.held_credits) for work whose cost is known only at the end, then
 * captured as one CONSUMPTION row, released, or expired. Lock order: the user's row, then the reservation's. The
 * rows and held credits are written by the posting core (posting/hold-postings.ts).
 */
export class Reservations {
  private readonly maxOpen: number;

  constructor(private readonly postings: Postings) {
    this.maxOpen = postings.options.maxOpenReservations ?? DEFAULT_MAX_OPEN_RESERVATIONS;
  }

  /**
   * Holds credits for work whose cost is known only at the end. Idempotent per (user, key) like consume: the same
   * input returns the same reservation (whatever became of it), a different one is IDEMPOTENCY_CONFLICT.
   */
  async reserve(userId: string, request: ReserveRequest): Promise<Reservation> {
    const hash = requestHash('reserve', { ...request, idempotencyKey: undefined });
    const hold: Hold = {
      userId,
      amount: request.amount,
      feature: request.feature,
      idempotencyKey: request.idempotencyKey,
      requestHash: hash,
      description: request.description ?? null,
      expiresAt: new Date(this.postings.now().getTime() + request.ttlSeconds * 1000),
    };
    try {
      const held = await holdFast(this.postings.em, hold, this.maxOpen);
      if (held) return held;
    } catch (error) {
      if (!isUniqueViolation(error, RESERVATION_KEY_UNIQUE)) throw error;
    }
    const previous = await this.replayReservation(userId, request.idempotencyKey, hash);
    if (previous) return previous;
    let account = await this.postings.accountOf(userId);
    if (account.held > 0 || account.expiring > 0) {
      const outcome = await this.holdSlowly(hold);
      if ('reservation' in outcome) return outcome.reservation;
      if ('replay' in outcome) {
        const replayed = await this.replayReservation(userId, request.idempotencyKey, hash);
        if (!replayed) throw new Error(`reservation key ${request.idempotencyKey} was used but its row is gone`);
        return replayed;
      }
      account = outcome.insufficient;
    }
    throw insufficientCredits(account.balance, request.amount, account.balance - account.held);
  }

  /**
   * Charges up to the held amount as one CONSUMPTION row and frees the rest of the hold. Resolves a reservation at
   * most once: capturing it again with the same amount returns the same result; anything else is an error.
   */
  async capture(userId: string, reservationId: string, amount: number): Promise<Reservation> {
    return this.resolveReservation(userId, reservationId, async (em, account, reservation) => {
      if (reservation.status === ReservationStatus.CAPTURED && reservation.capturedAmount === amount) return undefined;
      const unresolved = this.unresolved(reservation);
      if (unresolved) return unresolved;
      if (amount > reservation.amount) return badUserInput('amount', `must be at most the held amount (${reservation.amount})`);
      await captureHold(this.postings, em, account, reservation, amount);
      return undefined;
    });
  }

  /** Frees a hold without a charge. Releasing it again returns it as it is; a captured or expired one is an error. */
  async release(userId: string, reservationId: string): Promise<Reservation> {
    return this.resolveReservation(userId, reservationId, async (em, account, reservation) => {
      if (reservation.status === ReservationStatus.RELEASED) return undefined;
      const unresolved = this.unresolved(reservation);
      if (unresolved) return unresolved;
      await releaseHold(em, account, reservation);
      return undefined;
    });
  }

  /** One of the user's reservations; undefined for anyone else's. */
  async find(userId: string, reservationId: string): Promise<Reservation | undefined> {
    const [row] = await this.postings.em.execute<Row[]>('select * from reservations where id = ? and user_id = ?', [reservationId, userId]);
    return row ? toReservation(row) : undefined;
  }

  /** A hold on the slow path: lock the user, expire what lapsed, then hold if the spendable balance covers it. */
  private async holdSlowly(hold: Hold): Promise<{ reservation: Reservation } | { insufficient: Account } | { replay: true }> {
    try {
      return await this.postings.em.transactional(async (em) => {
        const account = await this.postings.lockAccount(em, hold.userId);
        const used = await em.execute<Row[]>('select 1 from reservations where user_id = ? and idempotency_key = ?', [hold.userId, hold.idempotencyKey]);
        if (used.length > 0) return { replay: true as const };
        await this.postings.expireLapsed(em, account);
        // Under the user's row lock the count is exact: concurrent holds cannot slip past the cap together.
        if ((await openHolds(em, hold.userId)) >= this.maxOpen) throw limitExceeded('open reservations per account', this.maxOpen);
        if (account.balance - account.held < hold.amount) return { insufficient: account };
        return { reservation: await holdLocked(em, account, hold) };
      });
    } catch (error) {
      if (!isUniqueViolation(error, RESERVATION_KEY_UNIQUE)) throw error;
      return { replay: true };
    }
  }

  /**
   * Capture and release: the user row first, then (expiring what lapsed, which may be this very hold) the
   * reservation's row, then the resolution. A refusal is returned rather than thrown so that what expired on the
   * way commits: a hold found lapsed stays expired.
   */
  private async resolveReservation(userId: string, reservationId: string, resolve: Resolution): Promise<Reservation> {
    const outcome = await this.postings.em.transactional(async (em) => {
      const [owner] = await em.execute<Row[]>('select user_id from reservations where id = ?', [reservationId]);
      if (!owner || owner.user_id !== userId) return notFound('Reservation', reservationId);
      const account = await this.postings.lockAccount(em, userId);
      const now = this.postings.now();
      const expired = await this.postings.expireLapsed(em, account, now);
      const [locked] = await em.execute<Row[]>('select * from reservations where id = ? for update', [reservationId]);
      const refusal = await resolve(em, account, toReservation(locked!));
      if (refusal) return refusal;
      if (expired.creditsKept > 0) await this.postings.expireLapsed(em, account, now);
      const [resolved] = await em.execute<Row[]>('select * from reservations where id = ?', [reservationId]);
      return toReservation(resolved!);
    });
    if (outcome instanceof DomainError) throw outcome;
    return outcome;
  }

  /** The error for a reservation that is no longer HELD, or undefined while it is. */
  private unresolved(reservation: Reservation): DomainError | undefined {
    if (reservation.status === ReservationStatus.HELD) return undefined;
    if (reservation.status === ReservationStatus.EXPIRED) return reservationExpired(reservation.id, pgTimestamp(reservation.expiresAt));
    return reservationAlreadyResolved(reservation.id, reservation.status, reservation.capturedAmount);
  }

  /** The reservation a key was first used for, when the request is the same; a different request is a conflict. */
  private async replayReservation(userId: string, idempotencyKey: string, hash: string): Promise<Reservation | undefined> {
    const [row] = await this.postings.em.execute<Row[]>('select * from reservations where user_id = ? and idempotency_key = ?', [
      userId,
      idempotencyKey,
    ]);
    if (!row) return undefined;
    const previous = toReservation(row);
    if (previous.requestHash !== hash) throw idempotencyConflict(idempotencyKey);
    return previous;
  }
}
