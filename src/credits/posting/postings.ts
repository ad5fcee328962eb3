import type { EntityManager } from '@mikro-orm/postgresql';
import { badUserInput, idempotencyConflict, notFound, spendLimitExceeded } from '../../core/errors.js';
import { prefixedId } from '../../core/ids.js';
import { queryRows } from '../../database/native-query.js';
import { isOutOfRange, isUniqueViolation } from '../../database/pg-errors.js';
import type { Row } from '../../database/rows.js';
import { toCreditTransaction, type CreditTransaction, type LedgerMetadata } from '../credit-transaction.model.js';
import { CreditTransactionType } from '../credit-transaction.enums.js';
import { IDEMPOTENCY_KEY_UNIQUE } from '../constraints.js';
import {
  ALLOCATE,
  COUNT_MEMBER_SPEND,
  EXPIRE_HOLDS,
  INSERT_GRANT_LOT,
  POST,
  POST_LOCKED,
  POST_MEMBER,
  type PostedRowParams,
} from './statements.js';

/**
 * The posting core: the only code that changes an account's credits or the held and expiring parts of them
 * (`accounts.credit_balance`, `held_credits`, `expiring_credits`, `open_reservations`), or a member's monthly spend
 * (`organization_members.spent_credits`, `held_credits`), and the only code that writes ledger, grant, allocation and
 * reservation rows. Every statement it runs is in statements.ts; this folder alone imports that file (a test reads
 * the source to prove no other module writes those tables or columns). Every balance change appends its ledger row
 * in the same statement that moves `accounts.credit_balance`, so they commit or fail as one.
 *
 * An account is a user's personal one (its id is the user's) or an organization's. A member spending from an
 * organization's wallet is held to their monthly spend limit in the same statement that spends (POST_MEMBER).
 *
 * Fast path: one statement (POST, or POST_MEMBER on an organization) for every credit, and for a debit of an account
 * with no expiring credits whose spendable balance (balance - held) covers it. Slow path, for everything else
 * (holds, expiring grants, their expiry): a transaction that locks the account row first (SELECT ... FOR NO KEY
 * UPDATE, the lock an UPDATE takes, so it queues with the fast path but not with inserts whose foreign keys name the
 * account), then the member's row where there is one, expires what has lapsed, checks, allocates a debit to the
 * expiring grants it draws from (soonest expiry first) and posts.
 *
 * Lock order, one for the whole ledger: the account row is the per-account mutex and comes first; a member row comes
 * right after it. An account's grant rows (credit_grants) and reservation rows are locked only by a transaction that
 * already holds that account's row (account, member, then grants, then reservations, and again grants when a capture
 * draws on them), so whatever their order among themselves, no cycle can form. A workshop or purchase row, where a
 * transaction locks one, comes before the account (Ledger.chargeWorkshop, Purchases.complete and Purchases.reverse);
 * nothing locks a workshop or purchase row while holding an account row, and no transaction holds two accounts' rows.
 * Managing members locks only member rows (and the organization's), never the account.
 *
 * Time: effective_at is clock_timestamp() taken while the account row is locked (not now(), the transaction's
 * start), so per account it grows in posting order and "the last row at or before t" gives the balance at t. Expiry
 * compares expires_at with a `now` the caller passes (the ledger's clock by default; the sweeper passes its own).
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
  /** At most this many HELD reservations per account (MAX_OPEN_RESERVATIONS; default 1,000). */
  maxOpenReservations?: number;
}

export const DEFAULT_MAX_OPEN_RESERVATIONS = 1_000;

/** A row to append, with the signed change it makes to the balance. */
export interface Posting {
  accountId: string;
  /** Who made it happen (see CreditTransaction.actor); null for jobs and webhooks. */
  actorId?: string | null;
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

/** An account's credits as read under its row lock; the slow path keeps it in step with what it writes. */
export interface Account {
  id: string;
  balance: number;
  held: number;
  expiring: number;
  openReservations: number;
}

/** A member's standing in an organization this month, as read under their row lock. */
export interface Member {
  organizationId: string;
  userId: string;
  limit: number | null;
  spent: number;
  held: number;
}

/** The first day of the UTC calendar month of `at` (YYYY-MM-01): the month a member's spend counts in. */
export const monthOf = (at: Date) => `${at.toISOString().slice(0, 7)}-01`;

/** What a debit took from one expiring grant. */
export interface Draw {
  grantId: string;
  amount: number;
}

export type SlowDebit = { row: CreditTransaction } | { replay: true } | { insufficient: Account };

const ACCOUNT_COLUMNS = 'id, credit_balance, held_credits, expiring_credits, open_reservations';

/**
 * Where the ledger's statements go: an EntityManager, or a function that makes one when it is first needed (a
 * request's fork, which the fast paths below never need).
 */
export type EntityManagerSource = EntityManager | (() => EntityManager);

export class Postings {
  private readonly emOf: () => EntityManager;
  private made: EntityManager | undefined;
  /**
   * Where the fast paths' single statements go: `direct` when given (the ORM's root EntityManager), so that a request
   * whose whole work is one such statement never forks an EntityManager of its own (forking one was about 4%
   * of the CPU of a consumption). A statement outside a transaction needs nothing of a fork: it runs on the pool
   * either way (database/native-query.ts), and inside one the root EntityManager finds the transaction's.
   */
  readonly direct: EntityManager | undefined;

  constructor(em: EntityManagerSource, readonly options: LedgerOptions, direct?: EntityManager) {
    this.emOf = typeof em === 'function' ? em : () => em;
    this.direct = direct;
  }

  /** The EntityManager of everything but the fast paths' single statements: made on first use. */
  get em(): EntityManager {
    return (this.made ??= this.emOf());
  }

  /** The EntityManager for one of the fast paths' single statements outside a transaction. */
  get single(): EntityManager {
    return this.direct ?? this.em;
  }

  now(): Date {
    return this.options.now?.() ?? new Date();
  }

  month(): string {
    return monthOf(this.now());
  }

  async accountOf(accountId: string, em: EntityManager = this.em): Promise<Account> {
    const [row] = await em.execute<Row[]>(`select ${ACCOUNT_COLUMNS} from accounts where id = ?`, [accountId]);
    if (!row) throw notFound('Account', accountId);
    return toAccount(row);
  }

  /** The first lock of every slow path: the account's row (see the lock order at the top). */
  async lockAccount(em: EntityManager, accountId: string): Promise<Account> {
    const [row] = await em.execute<Row[]>(`select ${ACCOUNT_COLUMNS} from accounts where id = ? for no key update`, [accountId]);
    if (!row) throw notFound('Account', accountId);
    return toAccount(row);
  }

  /** The account's row lock, or undefined at once when someone else holds it (the sweeper's way). */
  async tryLockAccount(em: EntityManager, accountId: string): Promise<Account | undefined> {
    const [row] = await em.execute<Row[]>(`select ${ACCOUNT_COLUMNS} from accounts where id = ? for no key update skip locked`, [accountId]);
    return row ? toAccount(row) : undefined;
  }

  /**
   * The second lock of a member's slow path, right after the account's: their membership row, read as of this
   * month. An organization's existence is not revealed to a non-member (NOT_FOUND), removed members included.
   */
  async lockMember(em: EntityManager, organizationId: string, userId: string): Promise<Member> {
    const [row] = await em.execute<Row[]>(
      `select monthly_spend_limit, held_credits, case when spend_month = ?::date then spent_credits else 0 end as spent
       from organization_members where organization_id = ? and user_id = ? and removed_at is null for update`,
      [this.month(), organizationId, userId],
    );
    if (!row) throw notFound('Organization', organizationId);
    return {
      organizationId,
      userId,
      limit: row.monthly_spend_limit === null ? null : Number(row.monthly_spend_limit),
      spent: Number(row.spent),
      held: Number(row.held_credits),
    };
  }

  /** Refuses what would take a member past their monthly limit (what they spent and hold this month, and `more`). */
  checkSpendLimit(member: Member, more: number) {
    if (member.limit !== null && member.spent + member.held + more > member.limit) {
      throw spendLimitExceeded({ limit: member.limit, spent: member.spent, held: member.held, required: more });
    }
  }

  async keyUsed(em: EntityManager, accountId: string, idempotencyKey: string): Promise<boolean> {
    const rows = await em.execute<Row[]>('select 1 from credit_transactions where account_id = ? and idempotency_key = ?', [accountId, idempotencyKey]);
    return rows.length > 0;
  }

  /** The fast path: one statement, or undefined when it does not apply (nothing was written then). */
  async post(em: EntityManager, posting: Posting): Promise<CreditTransaction | undefined> {
    const [row] = await queryRows(em, POST.text, POST.bind(this.rowParams(posting)), 'tally_post').catch(balanceOverflow);
    return row ? toCreditTransaction(row) : undefined;
  }

  /**
   * The fast path of a member's debit from an organization's wallet (posting.actorId the member): one statement
   * that also counts it against their monthly limit; undefined when it does not apply (nothing was written then).
   */
  async postMemberDebit(em: EntityManager, posting: Posting): Promise<CreditTransaction | undefined> {
    const [row] = await queryRows(em, POST_MEMBER.text, POST_MEMBER.bind({ ...this.rowParams(posting), month: this.month(), debit: -posting.amount }), 'tally_post_member');
    return row ? toCreditTransaction(row) : undefined;
  }

  async postLocked(em: EntityManager, posting: Posting, expiringDelta: number): Promise<CreditTransaction> {
    const [row] = await em
      .execute<Row[]>(POST_LOCKED.text, POST_LOCKED.bind({ ...this.rowParams(posting), heldDelta: posting.heldDelta ?? 0, expiringDelta }))
      .catch(balanceOverflow);
    if (!row) throw notFound('Account', posting.accountId);
    return toCreditTransaction(row);
  }

  /**
   * A debit on the slow path, in its own transaction; what it expired on the way commits even when it is refused.
   * With `asMember`, the debit is a member's spend from an organization's wallet (posting.actorId), held to their limit.
   */
  async spendSlowly(posting: Posting, asMember = false): Promise<SlowDebit> {
    try {
      return await this.em.transactional((em) => this.spendLocked(em, posting, asMember));
    } catch (error) {
      if (!isUniqueViolation(error, IDEMPOTENCY_KEY_UNIQUE)) throw error;
      return { replay: true };
    }
  }

  /**
   * Lock the account (and the member), expire what lapsed, check the member's limit and the spendable balance, then
   * post the debit, its allocations and the member's spend.
   */
  async spendLocked(em: EntityManager, posting: Posting, asMember = false): Promise<SlowDebit> {
    const account = await this.lockAccount(em, posting.accountId);
    const member = asMember ? await this.lockMember(em, posting.accountId, posting.actorId!) : undefined;
    if (posting.idempotencyKey && (await this.keyUsed(em, posting.accountId, posting.idempotencyKey))) return { replay: true };
    await this.expireLapsed(em, account);
    const required = -posting.amount;
    if (member) {
      // What expiry freed of the member's holds no longer counts against them.
      const [fresh] = await em.execute<Row[]>('select held_credits from organization_members where organization_id = ? and user_id = ?', [
        member.organizationId,
        member.userId,
      ]);
      member.held = Number(fresh?.held_credits ?? member.held);
      this.checkSpendLimit(member, required);
    }
    if (account.balance - account.held < required) return { insufficient: account };
    const row = await this.debit(em, account, posting, Math.min(required, account.expiring));
    if (member) {
      await em.execute(
        COUNT_MEMBER_SPEND.text,
        COUNT_MEMBER_SPEND.bind({ organizationId: member.organizationId, userId: member.userId, month: this.month(), debit: required }),
      );
    }
    return { row };
  }

  /**
   * Frees the account's lapsed holds, then expires what is left of its lapsed grants, soonest first. Each expiration
   * removes min(remaining, max(0, balance - held)) and no more (see the top of this file). Needs the account row locked.
   */
  async expireLapsed(em: EntityManager, account: Account, now: Date = this.now()): Promise<ExpirySummary> {
    const summary: ExpirySummary = { reservationsExpired: 0, grantsExpired: 0, creditsExpired: 0, creditsKept: 0 };
    if (account.held > 0) {
      const [freed] = await em.execute<{ credits: number; holds: number }[]>(EXPIRE_HOLDS.text, EXPIRE_HOLDS.bind({ accountId: account.id, now }));
      account.held -= freed?.credits ?? 0;
      account.openReservations -= freed?.holds ?? 0;
      summary.reservationsExpired = freed?.holds ?? 0;
    }
    if (account.expiring === 0) return summary;
    const grants = await em.execute<Row[]>(
      `select g.transaction_id, g.remaining from credit_grants g join credit_transactions t on t.id = g.transaction_id and t.account_id = g.account_id
       where g.account_id = ? and g.remaining > 0 and g.expires_at <= ?
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
        accountId: account.id,
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
   * Posts a debit under the account's lock. `fromGrants` of it is drawn from the account's expiring grants, soonest expiry
   * first (or from `draws` when the caller already chose them), and recorded as allocations of the new row.
   */
  async debit(em: EntityManager, account: Account, posting: Posting, fromGrants: number, draws?: Draw[]): Promise<CreditTransaction> {
    const taken = draws ?? (fromGrants > 0 ? await this.drawFromGrants(em, account.id, fromGrants) : []);
    const row = await this.postLocked(em, posting, -fromGrants);
    if (taken.length > 0) {
      const json = JSON.stringify(taken.map((draw) => ({ grant_id: draw.grantId, amount: draw.amount })));
      await em.execute(ALLOCATE.text, ALLOCATE.bind({ draws: json, transactionId: row.id, accountId: account.id }));
    }
    account.balance += posting.amount;
    account.held += posting.heldDelta ?? 0;
    account.expiring -= fromGrants;
    return row;
  }

  /** Locks the account's grants that have credits left, soonest expiry first (then posting order), and takes `amount`. */
  private async drawFromGrants(em: EntityManager, accountId: string, amount: number): Promise<Draw[]> {
    const open = await em.execute<Row[]>(
      `select g.transaction_id, g.remaining from credit_grants g join credit_transactions t on t.id = g.transaction_id and t.account_id = g.account_id
       where g.account_id = ? and g.remaining > 0 order by g.expires_at, t.posting_seq for update of g`,
      [accountId],
    );
    const draws: Draw[] = [];
    let left = amount;
    for (const grant of open) {
      if (left === 0) break;
      const take = Math.min(left, Number(grant.remaining));
      draws.push({ grantId: String(grant.transaction_id), amount: take });
      left -= take;
    }
    // accounts.expiring_credits is the sum of remaining over these rows, so this means the two disagree: stop.
    if (left > 0) throw new Error(`expiring grants of ${accountId} hold less than the ${amount} credits expected`);
    return draws;
  }

  /** A GRANT row and its expiring lot, in the caller's transaction (the GRANT's UPDATE locks the account row first). */
  async postExpiringGrant(em: EntityManager, posting: Posting, expiresAt: Date): Promise<CreditTransaction> {
    const row = await this.postLocked(em, posting, posting.amount);
    await em.execute(INSERT_GRANT_LOT.text, INSERT_GRANT_LOT.bind({ transactionId: row.id, accountId: posting.accountId, amount: posting.amount, expiresAt }));
    return row;
  }

  /** The row a key was first used for on this account, when the request is the same; a different request is a conflict. */
  async replay(accountId: string, idempotencyKey: string, hash: string): Promise<CreditTransaction | undefined> {
    const [row] = await this.em.execute<Row[]>('select * from credit_transactions where account_id = ? and idempotency_key = ?', [
      accountId,
      idempotencyKey,
    ]);
    if (!row) return undefined;
    const previous = toCreditTransaction(row);
    if (previous.requestHash !== hash) throw idempotencyConflict(idempotencyKey);
    return previous;
  }

  async replayOrFail(accountId: string, idempotencyKey: string, hash: string): Promise<CreditTransaction> {
    const previous = await this.replay(accountId, idempotencyKey, hash);
    if (!previous) throw new Error(`idempotency key ${idempotencyKey} was used but its row is gone`);
    return previous;
  }

  private rowParams(posting: Posting): PostedRowParams {
    return {
      id: prefixedId('ctx'),
      accountId: posting.accountId,
      actorId: posting.actorId ?? null,
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
    openReservations: Number(row.open_reservations),
  };
}

export const usedCredits = (amount: number, feature: string) => `Used ${amount} credit${amount === 1 ? '' : 's'} on ${feature}`;
