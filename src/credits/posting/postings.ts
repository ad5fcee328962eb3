import type { EntityManager } from '@mikro-orm/postgresql';
import { badUserInput, idempotencyConflict, notFound } from '../../core/errors.js';
import { prefixedId } from '../../core/ids.js';
import { queryRows } from '../../database/native-query.js';
import { isOutOfRange, isUniqueViolation } from '../../database/pg-errors.js';
import type { Row } from '../../database/rows.js';
import { toCreditTransaction, type CreditTransaction, type LedgerMetadata } from '../credit-transaction.model.js';
import { CreditTransactionType } from '../credit-transaction.enums.js';
import { IDEMPOTENCY_KEY_UNIQUE } from '../constraints.js';
import {
  ALLOCATE,
  EXPIRE_HOLDS,
  INSERT_GRANT_LOT,
  POST,
  POST_LOCKED,
  type PostedRowParams,
} from './statements.js';

/**
 * The posting core: the only code that changes a balance or the held and expiring parts of it
 * (`users.credit_balance`, `held_credits`, `expiring_credits`), and the only code that writes ledger, grant,
 * allocation and reservation rows. Every statement it runs is in statements.ts; this folder alone imports that file
 * (a test reads the source to prove no other module writes those tables or columns). Every balance change appends
 * its ledger row in the same statement that moves `users.credit_balance`, so they commit or fail as one.
 *
 * Fast path: one statement (POST) for every credit, and for a debit of a user with no expiring credits whose
 * spendable balance (balance - held) covers it. Slow path, for everything else (holds, expiring grants, their
 * expiry): a transaction that locks the user row first (SELECT ... FOR NO KEY UPDATE, the lock an UPDATE takes, so
 * it queues with the fast path but not with inserts whose foreign keys name the user), expires what has lapsed,
 * checks, allocates a debit to the expiring grants it draws from (soonest expiry first) and posts.
 *
 * Lock order, one for the whole ledger: the user row is the per-user mutex and comes first. A user's grant rows
 * (credit_grants) and reservation rows are locked only by a transaction that already holds that user's row (user,
 * then grants, then reservations, and again grants when a capture draws on them), so whatever their order among
 * themselves, no cycle can form. A workshop or purchase row, where a transaction locks one, comes before the user
 * (Ledger.chargeWorkshop, Purchases.complete and Purchases.reverse); nothing locks a workshop or purchase row while
 * holding a user row, and no transaction holds two users' rows.
 *
 * Time: effective_at is clock_timestamp() taken while the user row is locked (not now(), the transaction's start), so
 * per user it grows in posting order and "the last row at or before t" gives the balance at t. Expiry compares
 * expires_at with a `now` the caller passes (the ledger's clock by default; the sweeper passes its own).
 *
 * Expiry with credits held: an expiration removes only min(remaining, max(0, balance - held)) of a lapsed grant.
 * What it cannot remove stays as the grant's remaining, because an open reservation may be counting on it: a capture
 * draws on it first, and what is left expires as soon as the hold resolves (capture and release expire inline) or
 * at the next sweep.
 */

export interface ExpirySummary {
  reservationsExpired: number;
  grantsExpired: number;
  creditsExpired: number;
  /** Credits of lapsed grants left in place because holds may still need them. */
  creditsKept: number;
}

export interface LedgerOptions {
  workshopCreditCost: number;
  /** Correlates ledger rows with the request (and log lines) that wrote them. */
  requestId?: string;
  /** The clock that decides when holds and grants have lapsed. */
  now?: () => Date;
  /** At most this many HELD reservations per user (MAX_OPEN_RESERVATIONS; default 1,000). */
  maxOpenReservations?: number;
}

export const DEFAULT_MAX_OPEN_RESERVATIONS = 1_000;

/** A row to append, with the signed change it makes to the balance. */
export interface Posting {
  userId: string;
  type: CreditTransactionType;
  amount: number;
  description: string;
  feature?: string | null;
  idempotencyKey?: string | null;
  requestHash?: string | null;
  workshopId?: string | null;
  stripeSessionId?: string | null;
  stripePaymentIntentId?: string | null;
  refundOfId?: string | null;
  creditsReversed?: number | null;
  metadata?: LedgerMetadata | null;
  /** Slow path only: the change to the held part of the balance (a capture frees its hold). */
  heldDelta?: number;
}

/** A user's credits as read under their row lock; the slow path keeps it in step with what it writes. */
export interface Account {
  id: string;
  balance: number;
  held: number;
  expiring: number;
}

/** What a debit took from one expiring grant. */
export interface Draw {
  grantId: string;
  amount: number;
}

export type SlowDebit = { row: CreditTransaction } | { replay: true } | { insufficient: Account };

const ACCOUNT_COLUMNS = 'id, credit_balance, held_credits, expiring_credits';

export class Postings {
  constructor(
    readonly em: EntityManager,
    readonly options: LedgerOptions,
  ) {}

  now(): Date {
    return this.options.now?.() ?? new Date();
  }

  async accountOf(userId: string, em: EntityManager = this.em): Promise<Account> {
    const [row] = await em.execute<Row[]>(`select ${ACCOUNT_COLUMNS} from users where id = ?`, [userId]);
    if (!row) throw notFound('User', userId);
    return toAccount(row);
  }

  /** The first lock of every slow path: the user's row (see the lock order at the top). */
  async lockAccount(em: EntityManager, userId: string): Promise<Account> {
    const [row] = await em.execute<Row[]>(`select ${ACCOUNT_COLUMNS} from users where id = ? for no key update`, [userId]);
    if (!row) throw notFound('User', userId);
    return toAccount(row);
  }

  /** The user's row lock, or undefined at once when someone else holds it (the sweeper's way). */
  async tryLockAccount(em: EntityManager, userId: string): Promise<Account | undefined> {
    const [row] = await em.execute<Row[]>(`select ${ACCOUNT_COLUMNS} from users where id = ? for no key update skip locked`, [userId]);
    return row ? toAccount(row) : undefined;
  }

  async keyUsed(em: EntityManager, userId: string, idempotencyKey: string): Promise<boolean> {
    const rows = await em.execute<Row[]>('select 1 from credit_transactions where user_id = ? and idempotency_key = ?', [userId, idempotencyKey]);
    return rows.length > 0;
  }

  /** The fast path: one statement, or undefined when it does not apply (nothing was written then). */
  async post(em: EntityManager, posting: Posting): Promise<CreditTransaction | undefined> {
    const [row] = await queryRows(em, POST.text, POST.bind(this.rowParams(posting))).catch(balanceOverflow);
    return row ? toCreditTransaction(row) : undefined;
  }

  async postLocked(em: EntityManager, posting: Posting, expiringDelta: number): Promise<CreditTransaction> {
    const [row] = await em
      .execute<Row[]>(POST_LOCKED.text, POST_LOCKED.bind({ ...this.rowParams(posting), heldDelta: posting.heldDelta ?? 0, expiringDelta }))
      .catch(balanceOverflow);
    if (!row) throw notFound('User', posting.userId);
    return toCreditTransaction(row);
  }

  /** A debit on the slow path, in its own transaction; what it expired on the way commits even when it is refused. */
  async spendSlowly(posting: Posting): Promise<SlowDebit> {
    try {
      return await this.em.transactional((em) => this.spendLocked(em, posting));
    } catch (error) {
      if (!isUniqueViolation(error, IDEMPOTENCY_KEY_UNIQUE)) throw error;
      return { replay: true };
    }
  }

  /** Lock the user, expire what lapsed, check the spendable balance, then post the debit and its allocations. */
  async spendLocked(em: EntityManager, posting: Posting): Promise<SlowDebit> {
    const account = await this.lockAccount(em, posting.userId);
    if (posting.idempotencyKey && (await this.keyUsed(em, posting.userId, posting.idempotencyKey))) return { replay: true };
    await this.expireLapsed(em, account);
    const required = -posting.amount;
    if (account.balance - account.held < required) return { insufficient: account };
    return { row: await this.debit(em, account, posting, Math.min(required, account.expiring)) };
  }

  /**
   * Frees the user's lapsed holds, then expires what is left of their lapsed grants, soonest first. Each expiration
   * removes min(remaining, max(0, balance - held)) and no more (see the top of this file). Needs the user row locked.
   */
  async expireLapsed(em: EntityManager, account: Account, now: Date = this.now()): Promise<ExpirySummary> {
    const summary: ExpirySummary = { reservationsExpired: 0, grantsExpired: 0, creditsExpired: 0, creditsKept: 0 };
    if (account.held > 0) {
      const [freed] = await em.execute<{ credits: number; holds: number }[]>(EXPIRE_HOLDS.text, EXPIRE_HOLDS.bind({ userId: account.id, now }));
      account.held -= freed?.credits ?? 0;
      summary.reservationsExpired = freed?.holds ?? 0;
    }
    if (account.expiring === 0) return summary;
    const grants = await em.execute<Row[]>(
      `select g.transaction_id, g.remaining from credit_grants g join credit_transactions t on t.id = g.transaction_id
       where g.user_id = ? and g.remaining > 0 and g.expires_at <= ?
       order by g.expires_at, t.posting_seq for update of g`,
      [account.id, now],
    );
    for (const grant of grants) {
      const grantId = String(grant.transaction_id);
      const remaining = Number(grant.remaining);
      const removable = Math.min(remaining, Math.max(0, account.balance - account.held));
      summary.creditsKept += remaining - removable;
      if (removable === 0) continue;
      const expiration: Posting = {
        userId: account.id,
        type: CreditTransactionType.EXPIRATION,
        amount: -removable,
        description: `${removable} credit${removable === 1 ? '' : 's'} of grant ${grantId} expired`,
        metadata: { grantId },
      };
      await this.debit(em, account, expiration, removable, [{ grantId, amount: removable }]);
      summary.grantsExpired += 1;
      summary.creditsExpired += removable;
    }
    return summary;
  }

  /**
   * Posts a debit under the user's lock. `fromGrants` of it is drawn from the user's expiring grants, soonest expiry
   * first (or from `draws` when the caller already chose them), and recorded as allocations of the new row.
   */
  async debit(em: EntityManager, account: Account, posting: Posting, fromGrants: number, draws?: Draw[]): Promise<CreditTransaction> {
    const taken = draws ?? (fromGrants > 0 ? await this.drawFromGrants(em, account.id, fromGrants) : []);
    const row = await this.postLocked(em, posting, -fromGrants);
    if (taken.length > 0) {
      const json = JSON.stringify(taken.map((draw) => ({ grant_id: draw.grantId, amount: draw.amount })));
      await em.execute(ALLOCATE.text, ALLOCATE.bind({ draws: json, transactionId: row.id }));
    }
    account.balance += posting.amount;
    account.held += posting.heldDelta ?? 0;
    account.expiring -= fromGrants;
    return row;
  }

  /** Locks the user's grants that have credits left, soonest expiry first (then posting order), and takes `amount`. */
  private async drawFromGrants(em: EntityManager, userId: string, amount: number): Promise<Draw[]> {
    const open = await em.execute<Row[]>(
      `select g.transaction_id, g.remaining from credit_grants g join credit_transactions t on t.id = g.transaction_id
       where g.user_id = ? and g.remaining > 0 order by g.expires_at, t.posting_seq for update of g`,
      [userId],
    );
    const draws: Draw[] = [];
    let left = amount;
    for (const grant of open) {
      if (left === 0) break;
      const take = Math.min(left, Number(grant.remaining));
      draws.push({ grantId: String(grant.transaction_id), amount: take });
      left -= take;
    }
    // users.expiring_credits is the sum of remaining over these rows, so this means the two disagree: stop.
    if (left > 0) throw new Error(`expiring grants of ${userId} hold less than the ${amount} credits expected`);
    return draws;
  }

  /** A GRANT row and its expiring lot, in the caller's transaction (the GRANT's UPDATE locks the user row first). */
  async postExpiringGrant(em: EntityManager, posting: Posting, expiresAt: Date): Promise<CreditTransaction> {
    const row = await this.postLocked(em, posting, posting.amount);
    await em.execute(INSERT_GRANT_LOT.text, INSERT_GRANT_LOT.bind({ transactionId: row.id, userId: posting.userId, amount: posting.amount, expiresAt }));
    return row;
  }

  /** The row a key was first used for, when the request is the same; a different request is a conflict. */
  async replay(userId: string, idempotencyKey: string, hash: string): Promise<CreditTransaction | undefined> {
    const [row] = await this.em.execute<Row[]>('select * from credit_transactions where user_id = ? and idempotency_key = ?', [
      userId,
      idempotencyKey,
    ]);
    if (!row) return undefined;
    const previous = toCreditTransaction(row);
    if (previous.requestHash !== hash) throw idempotencyConflict(idempotencyKey);
    return previous;
  }

  async replayOrFail(userId: string, idempotencyKey: string, hash: string): Promise<CreditTransaction> {
    const previous = await this.replay(userId, idempotencyKey, hash);
    if (!previous) throw new Error(`idempotency key ${idempotencyKey} was used but its row is gone`);
    return previous;
  }

  private rowParams(posting: Posting): PostedRowParams {
    return {
      id: prefixedId('ctx'),
      userId: posting.userId,
      type: posting.type,
      amount: posting.amount,
      description: posting.description,
      feature: posting.feature ?? null,
      idempotencyKey: posting.idempotencyKey ?? null,
      requestHash: posting.requestHash ?? null,
      workshopId: posting.workshopId ?? null,
      stripeSessionId: posting.stripeSessionId ?? null,
      stripePaymentIntentId: posting.stripePaymentIntentId ?? null,
      refundOfId: posting.refundOfId ?? null,
      creditsReversed: posting.creditsReversed ?? null,
      metadata: this.metadataJson(posting.metadata ?? null),
    };
  }

  metadataJson(metadata: LedgerMetadata | null): string | null {
    const requestId = this.options.requestId;
    if (!metadata && !requestId) return null;
    return JSON.stringify(requestId ? { ...metadata, requestId } : metadata);
  }
}

/** A balance is a PostgreSQL integer: a credit that would take it past the largest one is refused, not wrapped. */
function balanceOverflow(error: unknown): never {
  if (isOutOfRange(error)) throw badUserInput('amount', `would take the balance past ${MAX_BALANCE.toLocaleString('en-US')} credits`);
  throw error;
}

export const MAX_BALANCE = 2_147_483_647;

export function toAccount(row: Row): Account {
  return {
    id: String(row.id),
    balance: Number(row.credit_balance),
    held: Number(row.held_credits),
    expiring: Number(row.expiring_credits),
  };
}

export const usedCredits = (amount: number, feature: string) => `Used ${amount} credit${amount === 1 ? '' : 's'} on ${feature}`;
