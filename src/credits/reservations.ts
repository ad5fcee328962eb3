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
import type { Spender } from './spender.js';
import { RESERVATION_KEY_UNIQUE } from './constraints.js';
import { captureHold, holdFast, holdLocked, releaseHold, type Hold } from './posting/hold-postings.js';
import { DEFAULT_MAX_OPEN_RESERVATIONS, type Account, type Member, type Postings } from './posting/postings.js';
import { ReservationStatus } from './reservation-status.js';
import { toReservation, type Reservation } from './reservation.model.js';

export interface ReserveRequest {
  amount: number;
  feature: string;
  idempotencyKey: string;
  ttlSeconds: number;
  description?: string | null;
}

/** How a resolver may act on a hold: as its holder, as a manager of its wallet, or as a Tally admin (an operator). */
type Standing = 'holder' | 'manager' | 'operator';

type Resolution = (em: EntityManager, account: Account, reservation: Reservation, standing: Standing) => Promise<DomainError | undefined>;

/**
 * Who may resolve a hold: the one who made it; on an organization, its owners and admins may release it too; and a
 * Tally admin may release any hold (a stuck one), saying why.
 */
export interface Resolver {
  userId: string;
  /** The user manages the organization whose wallet holds it (an OWNER or ADMIN, or a Tally admin). */
  managesAccount?: (accountId: string) => Promise<boolean>;
  /** A Tally admin: may see and release any hold. */
  isAdmin?: boolean;
}

/**
 * Reservations in the ledger: credits held (accounts.held_credits) for work whose cost is known only at the end,
 * then captured as one CONSUMPTION row, released, or expired. On an organization's wallet a hold counts against its
 * member's monthly limit while open, and its capture counts what it charged. Lock order: the account's row (then the
 * member's), then the reservation's. The rows and held credits are written by the posting core
 * (posting/hold-postings.ts).
 */
export class Reservations {
  private readonly maxOpen: number;

  constructor(private readonly postings: Postings) {
    this.maxOpen = postings.options.maxOpenReservations ?? DEFAULT_MAX_OPEN_RESERVATIONS;
  }

  /**
   * Holds credits for work whose cost is known only at the end. Idempotent per (account, key) like consume: the
   * same input returns the same reservation (whatever became of it), a different one is IDEMPOTENCY_CONFLICT.
   */
  async reserve(spender: Spender, request: ReserveRequest): Promise<Reservation> {
    const hash = requestHash('reserve', { ...request, idempotencyKey: undefined });
    const hold: Hold = {
      accountId: spender.accountId,
      actorId: spender.actorId,
      amount: request.amount,
      feature: request.feature,
      idempotencyKey: request.idempotencyKey,
      requestHash: hash,
      description: request.description ?? null,
      expiresAt: new Date(this.postings.now().getTime() + request.ttlSeconds * 1000),
    };
    try {
      const held = await holdFast(this.postings, this.postings.single, hold, this.maxOpen, spender.asMember);
      if (held) return held;
    } catch (error) {
      if (!isUniqueViolation(error, RESERVATION_KEY_UNIQUE)) throw error;
    }
    if (spender.asMember) await this.requireMember(spender.accountId, spender.actorId);
    const previous = await this.replayReservation(spender.accountId, request.idempotencyKey, hash);
    if (previous) return previous;
    let account = await this.postings.accountOf(spender.accountId);
    if (spender.asMember || account.held > 0 || account.expiring > 0 || account.openReservations >= this.maxOpen) {
      const outcome = await this.holdSlowly(hold, spender.asMember);
      if ('reservation' in outcome) return outcome.reservation;
      if ('replay' in outcome) {
        const replayed = await this.replayReservation(spender.accountId, request.idempotencyKey, hash);
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
  async capture(resolver: Resolver, reservationId: string, amount: number): Promise<Reservation> {
    return this.resolveReservation(resolver, reservationId, 'capture', async (em, account, reservation) => {
      if (reservation.status === ReservationStatus.CAPTURED && reservation.capturedAmount === amount) return undefined;
      const unresolved = this.unresolved(reservation);
      if (unresolved) return unresolved;
      if (amount > reservation.amount) {
        const taken = reservation.reversedAmount > 0 ? `; a refund or dispute took ${reservation.reversedAmount}` : '';
        return badUserInput('amount', `must be at most the held amount (${reservation.amount}${taken})`);
      }
      await captureHold(this.postings, em, account, reservation, amount, resolver.userId);
      return undefined;
    });
  }

  /**
   * Frees a hold without a charge, recording who did it and `reason`. Releasing it again returns it as it is; a
   * captured or expired one is an error. An admin releasing another user's personal hold must give a reason.
   */
  async release(resolver: Resolver, reservationId: string, reason: string | null = null): Promise<Reservation> {
    return this.resolveReservation(resolver, reservationId, 'release', async (em, account, reservation, standing) => {
      if (reservation.status === ReservationStatus.RELEASED) return undefined;
      if (standing === 'operator' && reason === null) return badUserInput('reason', "is required to release another account's hold");
      const unresolved = this.unresolved(reservation);
      if (unresolved) return unresolved;
      await releaseHold(em, account, reservation, resolver.userId, reason);
      return undefined;
    });
  }

  /** A reservation the user may see: one they made, one on a wallet they manage (`managesAccount`), or any for an admin. */
  async find(resolver: Resolver, reservationId: string): Promise<Reservation | undefined> {
    const [row] = await this.postings.em.execute<Row[]>('select * from reservations where id = ?', [reservationId]);
    if (!row) return undefined;
    const reservation = toReservation(row);
    return (await this.standingOf(resolver, reservation, 'release')) ? reservation : undefined;
  }

  /** A hold on the slow path: lock the account (and member), expire what lapsed, then hold if there is room. */
  private async holdSlowly(hold: Hold, asMember: boolean): Promise<{ reservation: Reservation } | { insufficient: Account } | { replay: true }> {
    try {
      return await this.postings.em.transactional(async (em) => {
        const account = await this.postings.lockAccount(em, hold.accountId);
        const member: Member | undefined = asMember ? await this.postings.lockMember(em, hold.accountId, hold.actorId) : undefined;
        const used = await em.execute<Row[]>('select 1 from reservations where account_id = ? and idempotency_key = ?', [hold.accountId, hold.idempotencyKey]);
        if (used.length > 0) return { replay: true as const };
        await this.postings.expireLapsed(em, account);
        // Under the account's row lock the count is exact: concurrent holds cannot slip past the cap together.
        if (account.openReservations >= this.maxOpen) throw limitExceeded('open reservations per account', this.maxOpen);
        if (member) {
          const [fresh] = await em.execute<Row[]>('select held_credits from organization_members where organization_id = ? and user_id = ?', [
            member.organizationId,
            member.userId,
          ]);
          member.held = Number(fresh?.held_credits ?? member.held);
          this.postings.checkSpendLimit(member, hold.amount);
        }
        if (account.balance - account.held < hold.amount) return { insufficient: account };
        return { reservation: await holdLocked(em, account, hold, member) };
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
  private async resolveReservation(resolver: Resolver, reservationId: string, action: 'capture' | 'release', resolve: Resolution): Promise<Reservation> {
    const outcome = await this.postings.em.transactional(async (em) => {
      const [found] = await em.execute<Row[]>('select * from reservations where id = ?', [reservationId]);
      const standing = found ? await this.standingOf(resolver, toReservation(found), action) : undefined;
      if (!found || !standing) return notFound('Reservation', reservationId);
      const account = await this.postings.lockAccount(em, String(found.account_id));
      const now = this.postings.now();
      const expired = await this.postings.expireLapsed(em, account, now);
      const [locked] = await em.execute<Row[]>('select * from reservations where id = ? and account_id = ? for update', [reservationId, account.id]);
      const refusal = await resolve(em, account, toReservation(locked!), standing);
      if (refusal) return refusal;
      if (expired.creditsKept > 0) await this.postings.expireLapsed(em, account, now);
      const [resolved] = await em.execute<Row[]>('select * from reservations where id = ? and account_id = ?', [reservationId, account.id]);
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

  /**
   * How `resolver` may act on a hold, or undefined when not at all: the user who made it, while (on an organization)
   * still a member; to release it, those who manage the wallet it holds, and Tally's admins. Anyone else is told it
   * does not exist.
   */
  private async standingOf(resolver: Resolver, reservation: Reservation, action: 'capture' | 'release'): Promise<Standing | undefined> {
    const personal = reservation.accountId === reservation.actorId || reservation.actorId === null;
    if (personal && reservation.accountId === resolver.userId) return 'holder';
    if (!personal && reservation.actorId === resolver.userId) {
      const member = await this.postings.em.execute<Row[]>(
        'select 1 from organization_members where organization_id = ? and user_id = ? and removed_at is null',
        [reservation.accountId, resolver.userId],
      );
      if (member.length > 0) return 'holder';
    }
    if (action !== 'release') return undefined;
    // A Tally admin manages every organization (organizations.roleIn), so this covers them on a shared wallet.
    if (!personal && (await resolver.managesAccount?.(reservation.accountId)) === true) return 'manager';
    if (resolver.isAdmin) return 'operator';
    return undefined;
  }

  /** A member of the organization (removed members are not); NOT_FOUND otherwise, so existence is not revealed. */
  private async requireMember(organizationId: string, userId: string): Promise<void> {
    const rows = await this.postings.em.execute<Row[]>(
      'select 1 from organization_members where organization_id = ? and user_id = ? and removed_at is null',
      [organizationId, userId],
    );
    if (rows.length === 0) throw notFound('Organization', organizationId);
  }

  /** The reservation a key was first used for, when the request is the same; a different request is a conflict. */
  private async replayReservation(accountId: string, idempotencyKey: string, hash: string): Promise<Reservation | undefined> {
    const [row] = await this.postings.em.execute<Row[]>('select * from reservations where account_id = ? and idempotency_key = ?', [
      accountId,
      idempotencyKey,
    ]);
    if (!row) return undefined;
    const previous = toReservation(row);
    if (previous.requestHash !== hash) throw idempotencyConflict(idempotencyKey);
    return previous;
  }
}
