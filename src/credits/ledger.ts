import type { EntityManager } from '@mikro-orm/postgresql';
import { GraphQLError } from 'graphql';
import { prefixedId } from '../database/ids.js';
import { queryRows } from '../database/native-query.js';
import {
  badUserInput,
  idempotencyConflict,
  insufficientCredits,
  notFound,
  reservationAlreadyResolved,
  reservationExpired,
} from '../graphql/errors.js';
import type { User } from '../users/user.entity.js';
import { CreditTransaction, transactionView, type LedgerMetadata } from './credit-transaction.entity.js';
import { CreditTransactionStatus, CreditTransactionType, WORKSHOP_FEATURE } from './credit-transaction.enums.js';
import { grantKey, STARTER_CREDITS_KEY } from './idempotency-keys.js';
import {
  IDEMPOTENCY_CONSTRAINT,
  isUniqueViolation,
  POST_LOCKED_SQL,
  POST_SQL,
  RESERVATION_KEY_CONSTRAINT,
  RESERVE_LOCKED_SQL,
  RESERVE_SQL,
  STRIPE_SESSION_CONSTRAINT,
  WORKSHOP_CHARGE_CONSTRAINT,
} from './ledger-sql.js';
import { requestHash } from './request-hash.js';
import { Reservation, ReservationStatus } from './reservation.entity.js';

/**
 * The ledger: the only code that changes a balance, or the held and expiring parts of it (`users.held_credits`,
 * `users.expiring_credits`). Every balance change appends its ledger row in the same statement that moves
 * `users.credit_balance`, so they commit or fail as one.
 *
 * Fast path: one statement (POST_SQL) for every credit, and for a debit of a user with no expiring credits whose
 * spendable balance (balance - held) covers it. Slow path, for everything else (holds, expiring grants, their
 * expiry): a transaction that locks the user row first (SELECT ... FOR NO KEY UPDATE, the lock an UPDATE takes, so
 * it queues with the fast path but not with inserts whose foreign keys name the user), expires what has lapsed,
 * checks, allocates a debit to the expiring grants it draws from (soonest expiry first) and posts.
 *
 * Lock order, one for the whole ledger: the user row is the per-user mutex and comes first. A user's grant rows
 * (credit_grants) and reservation rows are locked only by a transaction that already holds that user's row (user,
 * then grants, then reservations, and again grants when a capture draws on them), so whatever their order among
 * themselves, no cycle can form. A workshop or purchase row, where a transaction locks one, comes before the user
 * (chargeWorkshop, completePurchase, reversePurchase); nothing locks a workshop or purchase row while holding a user
 * row, and no transaction holds two users' rows.
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

export interface ConsumeRequest {
  amount: number;
  feature: string;
  idempotencyKey: string;
  description?: string | null;
  workshopId?: string | null;
  metadata?: LedgerMetadata | null;
}

export interface GrantRequest {
  userId: string;
  amount: number;
  reason: string;
  idempotencyKey: string;
  /** Credits not spent by then leave the balance through an EXPIRATION row. */
  expiresAt?: Date | null;
}

export interface ReserveRequest {
  amount: number;
  feature: string;
  idempotencyKey: string;
  ttlSeconds: number;
  description?: string | null;
}

/** One user's allowance for one period (see allowances.ts); `key` is the GRANT row's idempotency key. */
export interface AllowanceRequest {
  userId: string;
  tier: string;
  period: string;
  key: string;
  previousKey: string;
  amount: number;
  rolloverCap: number;
  expiresAt: Date;
}

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
}

/** A row to append, with the signed change it makes to the balance. */
interface Posting {
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
interface Account {
  id: string;
  balance: number;
  held: number;
  expiring: number;
}

/** What a debit took from one expiring grant. */
interface Draw {
  grantId: string;
  amount: number;
}

type SlowDebit = { row: CreditTransaction } | { replay: true } | { insufficient: Account };

type Row = Record<string, unknown>;

export class Ledger {
  constructor(
    private readonly em: EntityManager,
    private readonly options: LedgerOptions,
  ) {}

  /** Spends credits once per idempotency key; a retry with the same input returns the original row. */
  async consume(viewer: User, request: ConsumeRequest): Promise<CreditTransaction> {
    const hash = requestHash('consume', { ...request, idempotencyKey: undefined });
    if (request.workshopId) await this.ownedWorkshop(this.em, viewer.id, request.workshopId);
    const posting: Posting = {
      userId: viewer.id,
      type: CreditTransactionType.CONSUMPTION,
      amount: -request.amount,
      description: request.description ?? usedCredits(request.amount, request.feature),
      feature: request.feature,
      idempotencyKey: request.idempotencyKey,
      requestHash: hash,
      workshopId: request.workshopId ?? null,
      metadata: request.metadata ?? null,
    };
    try {
      const row = await this.post(this.em, posting);
      if (row) return row;
    } catch (error) {
      if (!isUniqueViolation(error, IDEMPOTENCY_CONSTRAINT)) throw error;
    }
    // The key was used before (or by a concurrent request that won), the balance is too small, or the spend needs
    // the slow path: holds that may have lapsed, or expiring grants to draw from.
    const previous = await this.replay(viewer.id, request.idempotencyKey, hash);
    if (previous) return previous;
    let account = await this.accountOf(viewer.id);
    if (account.held > 0 || account.expiring > 0) {
      const outcome = await this.spendSlowly(posting);
      if ('row' in outcome) return outcome.row;
      if ('replay' in outcome) return this.replayOrFail(viewer.id, request.idempotencyKey, hash);
      account = outcome.insufficient;
    }
    throw insufficientCredits(account.balance, request.amount, account.balance - account.held);
  }

  /** Charges a workshop once; charging it again returns the original row and charges nothing. */
  async chargeWorkshop(viewer: User, workshopId: string): Promise<CreditTransaction> {
    const cost = this.options.workshopCreditCost;
    try {
      return await this.em.transactional(async (em) => {
        const workshop = await this.ownedWorkshop(em, viewer.id, workshopId, { lock: true });
        if (workshop.credit_consumed_at) return this.workshopCharge(em, workshopId);
        const posting: Posting = {
          userId: viewer.id,
          type: CreditTransactionType.CONSUMPTION,
          amount: -cost,
          description: `Workshop "${String(workshop.title).slice(0, 200)}"`,
          feature: WORKSHOP_FEATURE,
          workshopId,
        };
        const fast = await this.post(em, posting);
        const outcome: SlowDebit = fast ? { row: fast } : await this.spendLocked(em, posting);
        if (!('row' in outcome)) {
          const account = 'insufficient' in outcome ? outcome.insufficient : await this.accountOf(viewer.id, em);
          throw insufficientCredits(account.balance, cost, account.balance - account.held);
        }
        const row = outcome.row;
        await em.execute('update workshops set credit_consumed_at = ?, updated_at = now() where id = ?', [
          row.effectiveAt,
          workshopId,
        ]);
        return row;
      });
    } catch (error) {
      // The workshop row lock makes this unreachable in practice; the unique index is the last line of defence.
      if (!isUniqueViolation(error, WORKSHOP_CHARGE_CONSTRAINT)) throw error;
      return this.workshopCharge(this.em.fork(), workshopId);
    }
  }

  /** Adds credits to a user (admin). Idempotent per (user, key) like consumption. */
  async grant(request: GrantRequest, grantedBy?: User): Promise<CreditTransaction> {
    const { expiresAt } = request;
    const hash = requestHash('grant', { ...request, expiresAt: expiresAt?.toISOString(), idempotencyKey: undefined });
    const target = await this.em.execute<Row[]>('select id from users where id = ? and deleted_at is null', [request.userId]);
    if (target.length === 0) throw notFound('User', request.userId);
    try {
      const posting: Posting = {
        userId: request.userId,
        type: CreditTransactionType.GRANT,
        amount: request.amount,
        description: request.reason,
        idempotencyKey: grantKey(request.idempotencyKey),
        requestHash: hash,
        metadata: grantedBy ? { grantedBy: grantedBy.id } : null,
      };
      const row = expiresAt
        ? await this.em.transactional((em) => this.postExpiringGrant(em, posting, expiresAt))
        : await this.post(this.em, posting);
      if (row) return row;
      throw new Error(`grant to ${request.userId} was not applied`);
    } catch (error) {
      if (!isUniqueViolation(error, IDEMPOTENCY_CONSTRAINT)) throw error;
      const previous = await this.replay(request.userId, grantKey(request.idempotencyKey), hash);
      if (previous) return previous;
      throw error;
    }
  }

  /** Credits given to a newly provisioned user; call inside the transaction that creates the user. */
  async grantStarterCredits(em: EntityManager, userId: string, amount: number): Promise<CreditTransaction | undefined> {
    if (amount <= 0) return undefined;
    return this.post(em, {
      userId,
      type: CreditTransactionType.GRANT,
      amount,
      description: 'Starter credits',
      idempotencyKey: STARTER_CREDITS_KEY,
    });
  }

  /** A purchase that has not taken effect: it records the Checkout Session and leaves the balance alone. */
  async recordPendingPurchase(purchase: {
    userId: string;
    credits: number;
    description: string;
    stripeSessionId: string;
    metadata?: LedgerMetadata;
    em?: EntityManager;
  }): Promise<CreditTransaction> {
    const em = purchase.em ?? this.em;
    const [row] = await em.execute<Row[]>(
      `insert into credit_transactions (id, user_id, type, status, amount, balance_after, description,
         stripe_session_id, metadata, created_at)
       select ?, u.id, 'purchase', 'pending', ?, u.credit_balance, ?, ?, ?::jsonb, now() from users u where u.id = ?
       returning *`,
      [
        prefixedId('ctx'),
        purchase.credits,
        purchase.description,
        purchase.stripeSessionId,
        this.metadataJson(purchase.metadata ?? null),
        purchase.userId,
      ],
    );
    if (!row) throw notFound('User', purchase.userId);
    return transactionView(row);
  }

  /**
   * PENDING -> COMPLETED for the purchase of a Checkout Session, adding its credits. Runs at most once per session:
   * the purchase row is locked and re-read, so concurrent or repeated deliveries find it COMPLETED and change nothing.
   */
  async completePurchase(stripeSessionId: string, paymentIntentId: string | null): Promise<PurchaseOutcome> {
    return this.em.transactional(async (em) => {
      const purchase = await this.lockPurchase(em, { stripeSessionId });
      if (!purchase) return { outcome: 'unknown-session' };
      if (purchase.status === CreditTransactionStatus.COMPLETED) return { outcome: 'already-completed', transaction: purchase };
      if (purchase.status === CreditTransactionStatus.FAILED) return { outcome: 'completed-after-failed', transaction: purchase };
      const [moved] = await em.execute<Row[]>(
        'update users set credit_balance = credit_balance + ?, updated_at = now() where id = ? returning credit_balance',
        [purchase.amount, purchase.user.id],
      );
      const [row] = await em.execute<Row[]>(
        `update credit_transactions set status = 'completed', balance_after = ?, effective_at = clock_timestamp(),
           posting_seq = nextval('credit_transactions_posting_seq'),
           stripe_payment_intent_id = coalesce(?, stripe_payment_intent_id)
         where id = ? returning *`,
        [moved!.credit_balance, paymentIntentId, purchase.id],
      );
      return { outcome: 'completed', transaction: transactionView(row!) };
    });
  }

  /** PENDING -> FAILED (expired or failed payment). A purchase that already completed is left as it is. */
  async failPurchase(stripeSessionId: string, reason: string): Promise<PurchaseOutcome> {
    return this.em.transactional(async (em) => {
      const purchase = await this.lockPurchase(em, { stripeSessionId });
      if (!purchase) return { outcome: 'unknown-session' };
      if (purchase.status !== CreditTransactionStatus.PENDING) return { outcome: `already-${purchase.status}`, transaction: purchase };
      const [row] = await em.execute<Row[]>(
        `update credit_transactions set status = 'failed',
           metadata = coalesce(metadata, '{}'::jsonb) || jsonb_build_object('failureReason', ?::text)
         where id = ? returning *`,
        [reason, purchase.id],
      );
      return { outcome: 'failed', transaction: transactionView(row!) };
    });
  }

  /**
   * Reverses credits of a completed purchase up to `cumulativeCredits` in total over all its refunds (so partial
   * refunds add up and a repeated refund notice changes nothing). What the balance cannot cover is not taken (the
   * balance never goes below zero); it is recorded on the REFUND row as `unrecoveredCredits`.
   */
  async reversePurchase(request: {
    purchase: { id: string } | { stripePaymentIntentId: string };
    cumulativeCredits: number;
    reason: string;
    metadata?: LedgerMetadata;
  }): Promise<PurchaseOutcome> {
    return this.em.transactional(async (em) => {
      const purchase = await this.lockPurchase(em, request.purchase);
      if (!purchase) return { outcome: 'unknown-purchase' };
      if (purchase.status !== CreditTransactionStatus.COMPLETED) return { outcome: `purchase-${purchase.status}`, transaction: purchase };
      const [{ reversed }] = (await em.execute<Row[]>(
        'select coalesce(sum(credits_reversed), 0)::int as reversed from credit_transactions where refund_of_id = ?',
        [purchase.id],
      )) as [{ reversed: number }];
      const target = Math.min(Math.max(request.cumulativeCredits, 0), purchase.amount);
      const credits = target - reversed;
      if (credits <= 0) return { outcome: 'already-reversed', transaction: purchase };
      const account = await this.lockAccount(em, purchase.user.id);
      await this.expireLapsed(em, account);
      // Held credits are promised to open reservations, so only the spendable balance can be recovered. Credits
      // that never expire go first; expiring grants cover the rest (recorded as allocations like a consumption).
      const recovered = Math.min(credits, Math.max(0, account.balance - account.held));
      const fromGrants = Math.max(0, recovered - (account.balance - account.expiring));
      const refund: Posting = {
        userId: purchase.user.id,
        type: CreditTransactionType.REFUND,
        amount: -recovered,
        description: request.reason,
        refundOfId: purchase.id,
        creditsReversed: credits,
        stripeSessionId: null,
        stripePaymentIntentId: purchase.stripePaymentIntentId ?? null,
        metadata: { ...request.metadata, unrecoveredCredits: credits - recovered, refundedCreditsTotal: target },
      };
      return { outcome: 'reversed', transaction: await this.debit(em, account, refund, fromGrants) };
    });
  }

  /**
   * Credits a paid Checkout Session that has no PENDING row (made outside this API): records the purchase and
   * completes it in one transaction. Concurrent deliveries race on the unique session id; the loser waits for the
   * winner's row, then finds it COMPLETED, so the session is credited once.
   */
  async completeUnrecordedPurchase(purchase: {
    userId: string;
    credits: number;
    description: string;
    stripeSessionId: string;
    paymentIntentId: string | null;
    metadata?: LedgerMetadata;
  }): Promise<PurchaseOutcome> {
    return this.em.transactional(async (em) => {
      const ledger = new Ledger(em, this.options);
      try {
        await em.transactional((savepoint) => ledger.recordPendingPurchase({ ...purchase, em: savepoint }));
      } catch (error) {
        if (!isUniqueViolation(error, STRIPE_SESSION_CONSTRAINT)) throw error;
      }
      return ledger.completePurchase(purchase.stripeSessionId, purchase.paymentIntentId);
    });
  }

  /**
   * Holds credits for work whose cost is known only at the end. Idempotent per (user, key) like consume: the same
   * input returns the same reservation (whatever became of it), a different one is IDEMPOTENCY_CONFLICT.
   */
  async reserve(viewer: User, request: ReserveRequest): Promise<Reservation> {
    const hash = requestHash('reserve', { ...request, idempotencyKey: undefined });
    const expiresAt = new Date(this.now().getTime() + request.ttlSeconds * 1000);
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
      const [row] = await this.em.execute<Row[]>(RESERVE_SQL, [request.amount, viewer.id, request.amount, ...reservation]);
      if (row) return this.em.map(Reservation, row);
    } catch (error) {
      if (!isUniqueViolation(error, RESERVATION_KEY_CONSTRAINT)) throw error;
    }
    const previous = await this.replayReservation(viewer.id, request.idempotencyKey, hash);
    if (previous) return previous;
    let account = await this.accountOf(viewer.id);
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
      const row = await this.debit(
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

  /**
   * The sweeper's work for one user (see expiry.ts): frees their lapsed holds and expires their lapsed grants as of
   * `now`. Answers 'busy' without waiting when the user's row is locked (a request, or another instance's sweeper).
   */
  async expireLapsedFor(userId: string, now: Date): Promise<ExpirySummary | 'busy'> {
    return this.em.transactional(async (em) => {
      const [row] = await em.execute<Row[]>(
        'select id, credit_balance, held_credits, expiring_credits from users where id = ? for no key update skip locked',
        [userId],
      );
      return row ? this.expireLapsed(em, toAccount(row), now) : 'busy';
    });
  }

  /**
   * A user's allowance for one period, at most once: the GRANT row's idempotency key names the period, and the
   * user's row lock orders concurrent attempts (several instances), so the later one finds the key used. The previous
   * period's allowance is expired first; what expiry took from it (now or earlier) rolls over, up to the cap.
   */
  async grantAllowance(request: AllowanceRequest, now: Date): Promise<'granted' | 'exists'> {
    try {
      return await this.em.transactional(async (em) => {
        const account = await this.lockAccount(em, request.userId);
        if (await this.keyUsed(em, request.userId, request.key)) return 'exists';
        await this.expireLapsed(em, account, now);
        const [previous] = await em.execute<Row[]>(
          `select coalesce(sum(a.amount), 0)::int as expired
           from credit_allocations a join credit_transactions x on x.id = a.transaction_id and x.type = 'expiration'
           where a.grant_id = (select id from credit_transactions where user_id = ? and idempotency_key = ?)`,
          [request.userId, request.previousKey],
        );
        const rollover = Math.min(Number(previous?.expired ?? 0), request.rolloverCap);
        const total = request.amount + rollover;
        const posting: Posting = {
          userId: request.userId,
          type: CreditTransactionType.GRANT,
          amount: total,
          description: `${request.tier} plan allowance for ${request.period}${rollover > 0 ? ` (${rollover} rolled over)` : ''}`,
          idempotencyKey: request.key,
          requestHash: requestHash('allowance', { period: request.period, tier: request.tier, amount: request.amount, rollover }),
          metadata: { allowance: { period: request.period, tier: request.tier, amount: request.amount, rollover } },
        };
        await this.postExpiringGrant(em, posting, request.expiresAt);
        return 'granted';
      });
    } catch (error) {
      if (isUniqueViolation(error, IDEMPOTENCY_CONSTRAINT)) return 'exists';
      throw error;
    }
  }

  async balanceOf(userId: string, em: EntityManager = this.em): Promise<number> {
    const [row] = await em.execute<Row[]>('select credit_balance from users where id = ?', [userId]);
    return row ? Number(row.credit_balance) : 0;
  }

  private now(): Date {
    return this.options.now?.() ?? new Date();
  }

  private async accountOf(userId: string, em: EntityManager = this.em): Promise<Account> {
    const [row] = await em.execute<Row[]>('select id, credit_balance, held_credits, expiring_credits from users where id = ?', [userId]);
    if (!row) throw notFound('User', userId);
    return toAccount(row);
  }

  /** The first lock of every slow path: the user's row (see the lock order at the top). */
  private async lockAccount(em: EntityManager, userId: string): Promise<Account> {
    const [row] = await em.execute<Row[]>(
      'select id, credit_balance, held_credits, expiring_credits from users where id = ? for no key update',
      [userId],
    );
    if (!row) throw notFound('User', userId);
    return toAccount(row);
  }

  private async keyUsed(em: EntityManager, userId: string, idempotencyKey: string): Promise<boolean> {
    const rows = await em.execute<Row[]>('select 1 from credit_transactions where user_id = ? and idempotency_key = ?', [userId, idempotencyKey]);
    return rows.length > 0;
  }

  /** A hold on the slow path: lock the user, expire what lapsed, then hold if the spendable balance covers it. */
  private async holdSlowly(userId: string, request: ReserveRequest, reservation: unknown[]): Promise<Reservation | Account | 'replay'> {
    try {
      return await this.em.transactional(async (em) => {
        const account = await this.lockAccount(em, userId);
        const used = await em.execute<Row[]>('select 1 from reservations where user_id = ? and idempotency_key = ?', [userId, request.idempotencyKey]);
        if (used.length > 0) return 'replay' as const;
        await this.expireLapsed(em, account);
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

  /** A debit on the slow path, in its own transaction; what it expired on the way commits even when it is refused. */
  private async spendSlowly(posting: Posting): Promise<SlowDebit> {
    try {
      return await this.em.transactional((em) => this.spendLocked(em, posting));
    } catch (error) {
      if (!isUniqueViolation(error, IDEMPOTENCY_CONSTRAINT)) throw error;
      return { replay: true };
    }
  }

  /** Lock the user, expire what lapsed, check the spendable balance, then post the debit and its allocations. */
  private async spendLocked(em: EntityManager, posting: Posting): Promise<SlowDebit> {
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
  private async expireLapsed(em: EntityManager, account: Account, now: Date = this.now()): Promise<ExpirySummary> {
    const summary: ExpirySummary = { reservationsExpired: 0, grantsExpired: 0, creditsExpired: 0, creditsKept: 0 };
    if (account.held > 0) {
      const lapsed = await em.execute<Row[]>(
        `update reservations set status = 'expired', resolved_at = clock_timestamp()
         where user_id = ? and status = 'held' and expires_at <= ? returning amount`,
        [account.id, now],
      );
      const freed = lapsed.reduce((sum, row) => sum + Number(row.amount), 0);
      if (freed > 0) {
        await em.execute('update users set held_credits = held_credits - ?, updated_at = now() where id = ?', [freed, account.id]);
        account.held -= freed;
        summary.reservationsExpired = lapsed.length;
      }
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
  private async debit(em: EntityManager, account: Account, posting: Posting, fromGrants: number, draws?: Draw[]): Promise<CreditTransaction> {
    const taken = draws ?? (fromGrants > 0 ? await this.drawFromGrants(em, account.id, fromGrants) : []);
    const row = await this.postLocked(em, posting, -fromGrants);
    if (taken.length > 0) {
      await em.execute(
        `with taken as (select * from json_to_recordset(?::json) as d(grant_id text, amount int)),
         drawn as (update credit_grants g set remaining = g.remaining - taken.amount from taken where g.transaction_id = taken.grant_id)
         insert into credit_allocations (transaction_id, grant_id, amount) select ?, grant_id, amount from taken`,
        [JSON.stringify(taken.map((draw) => ({ grant_id: draw.grantId, amount: draw.amount }))), row.id],
      );
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
  private async postExpiringGrant(em: EntityManager, posting: Posting, expiresAt: Date): Promise<CreditTransaction> {
    const row = await this.postLocked(em, posting, posting.amount);
    await em.execute(
      'insert into credit_grants (transaction_id, user_id, amount, remaining, expires_at, created_at) values (?, ?, ?, ?, ?, now())',
      [row.id, posting.userId, posting.amount, posting.amount, expiresAt],
    );
    return row;
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
    const outcome = await this.em.transactional(async (em) => {
      const [owner] = await em.execute<Row[]>('select user_id from reservations where id = ?', [reservationId]);
      if (!owner || owner.user_id !== userId) return notFound('Reservation', reservationId);
      const account = await this.lockAccount(em, userId);
      const now = this.now();
      const expired = await this.expireLapsed(em, account, now);
      const [locked] = await em.execute<Row[]>('select * from reservations where id = ? for update', [reservationId]);
      const refusal = await resolve(em, account, em.map(Reservation, locked!));
      if (refusal) return refusal;
      if (expired.creditsKept > 0) await this.expireLapsed(em, account, now);
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

  private async post(em: EntityManager, posting: Posting): Promise<CreditTransaction | undefined> {
    const [row] = await queryRows(em, POST_SQL, [posting.amount, posting.userId, posting.amount, ...this.rowParams(posting)]);
    return row ? transactionView(row) : undefined;
  }

  private async postLocked(em: EntityManager, posting: Posting, expiringDelta: number): Promise<CreditTransaction> {
    const [row] = await em.execute<Row[]>(POST_LOCKED_SQL, [
      posting.amount,
      posting.heldDelta ?? 0,
      expiringDelta,
      posting.userId,
      ...this.rowParams(posting),
    ]);
    if (!row) throw notFound('User', posting.userId);
    return transactionView(row);
  }

  /** The INSERT_POSTED_ROW parameters, in order. */
  private rowParams(posting: Posting): unknown[] {
    return [
      prefixedId('ctx'),
      posting.userId,
      posting.type,
      posting.amount,
      posting.description,
      posting.feature ?? null,
      posting.idempotencyKey ?? null,
      posting.requestHash ?? null,
      posting.workshopId ?? null,
      posting.stripeSessionId ?? null,
      posting.stripePaymentIntentId ?? null,
      posting.refundOfId ?? null,
      posting.creditsReversed ?? null,
      this.metadataJson(posting.metadata ?? null),
    ];
  }

  private metadataJson(metadata: LedgerMetadata | null): string | null {
    const requestId = this.options.requestId;
    if (!metadata && !requestId) return null;
    return JSON.stringify(requestId ? { ...metadata, requestId } : metadata);
  }

  private async replayOrFail(userId: string, idempotencyKey: string, hash: string): Promise<CreditTransaction> {
    const previous = await this.replay(userId, idempotencyKey, hash);
    if (!previous) throw new Error(`idempotency key ${idempotencyKey} was used but its row is gone`);
    return previous;
  }

  /** The reservation a key was first used for, when the request is the same; a different request is a conflict. */
  private async replayReservation(userId: string, idempotencyKey: string, hash: string): Promise<Reservation | undefined> {
    const previous = await this.em.fork().findOne(Reservation, { user: userId, idempotencyKey });
    if (!previous) return undefined;
    if (previous.requestHash !== hash) throw idempotencyConflict(idempotencyKey);
    return previous;
  }

  /** The row a key was first used for, when the request is the same; a different request is a conflict. */
  private async replay(userId: string, idempotencyKey: string, hash: string): Promise<CreditTransaction | undefined> {
    const previous = await this.em.fork().findOne(CreditTransaction, { user: userId, idempotencyKey });
    if (!previous) return undefined;
    if (previous.requestHash !== hash) throw idempotencyConflict(idempotencyKey);
    return previous;
  }

  private async ownedWorkshop(em: EntityManager, userId: string, workshopId: string, options: { lock?: boolean } = {}) {
    const [workshop] = await em.execute<Row[]>(
      `select id, user_id, title, credit_consumed_at from workshops where id = ? and deleted_at is null${options.lock ? ' for update' : ''}`,
      [workshopId],
    );
    if (!workshop || workshop.user_id !== userId) throw notFound('Workshop', workshopId);
    return workshop;
  }

  private async workshopCharge(em: EntityManager, workshopId: string): Promise<CreditTransaction> {
    const charge = await em.findOne(CreditTransaction, {
      workshop: workshopId,
      type: CreditTransactionType.CONSUMPTION,
      feature: WORKSHOP_FEATURE,
      status: CreditTransactionStatus.COMPLETED,
    });
    if (!charge) throw new Error(`workshop ${workshopId} is marked charged but has no charge row`);
    return charge;
  }

  private async lockPurchase(
    em: EntityManager,
    by: { id: string } | { stripeSessionId: string } | { stripePaymentIntentId: string },
  ): Promise<CreditTransaction | undefined> {
    const [column, value] =
      'id' in by ? ['id', by.id] : 'stripeSessionId' in by ? ['stripe_session_id', by.stripeSessionId] : ['stripe_payment_intent_id', by.stripePaymentIntentId];
    const [row] = await em.execute<Row[]>(
      `select * from credit_transactions where ${column} = ? and type = 'purchase' order by posting_seq limit 1 for update`,
      [value],
    );
    return row ? transactionView(row) : undefined;
  }

}

function toAccount(row: Row): Account {
  return {
    id: String(row.id),
    balance: Number(row.credit_balance),
    held: Number(row.held_credits),
    expiring: Number(row.expiring_credits),
  };
}

const usedCredits = (amount: number, feature: string) => `Used ${amount} credit${amount === 1 ? '' : 's'} on ${feature}`;

export interface PurchaseOutcome {
  outcome: string;
  transaction?: CreditTransaction;
}
