import type { EntityManager } from '@mikro-orm/postgresql';
import { prefixedId } from '../database/ids.js';
import { idempotencyConflict, insufficientCredits, notFound } from '../graphql/errors.js';
import type { User } from '../users/user.entity.js';
import { CreditTransaction, type LedgerMetadata } from './credit-transaction.entity.js';
import { CreditTransactionStatus, CreditTransactionType, WORKSHOP_FEATURE } from './credit-transaction.enums.js';
import { requestHash } from './request-hash.js';

/**
 * The ledger: the only code that changes a balance. Every change is one statement that moves
 * `users.credit_balance` and appends the ledger row together, so they commit or fail as one.
 *
 * Lock order, where a transaction takes more than one row lock: the workshop or the purchase row first, then the
 * user row. Balance-only operations lock just the user row (inside their UPDATE), so no cycle can form.
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
}

export interface LedgerOptions {
  workshopCreditCost: number;
  /** Correlates ledger rows with the request (and log lines) that wrote them. */
  requestId?: string;
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
}

type Row = Record<string, unknown>;

const IDEMPOTENCY_CONSTRAINT = 'credit_transactions_user_idempotency_key_unique';
const WORKSHOP_CHARGE_CONSTRAINT = 'credit_transactions_workshop_charge_unique';
export const STRIPE_SESSION_CONSTRAINT = 'credit_transactions_stripe_session_id_unique';

/**
 * Moves the balance by `amount` unless that would take it below zero, and appends the COMPLETED row carrying the
 * balance that resulted. No row comes back when the balance was too small; then nothing was written.
 */
export const POST_SQL = `
with moved as (
  update users set credit_balance = credit_balance + ?, updated_at = now()
  where id = ? and credit_balance + ? >= 0
  returning credit_balance
)
insert into credit_transactions (id, user_id, type, status, amount, balance_after, description, feature,
  idempotency_key, request_hash, workshop_id, stripe_session_id, stripe_payment_intent_id, refund_of_id,
  credits_reversed, metadata, effective_at, created_at)
select ?, ?, ?, 'completed', ?, moved.credit_balance, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, now(), now()
from moved
returning *`;

export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string } | null;
  return !!e && e.code === '23505' && (constraint === undefined || e.constraint === constraint);
}

export class Ledger {
  constructor(
    private readonly em: EntityManager,
    private readonly options: LedgerOptions,
  ) {}

  /** Spends credits once per idempotency key; a retry with the same input returns the original row. */
  async consume(viewer: User, request: ConsumeRequest): Promise<CreditTransaction> {
    const hash = requestHash('consume', { ...request, idempotencyKey: undefined });
    if (request.workshopId) await this.ownedWorkshop(this.em, viewer.id, request.workshopId);
    try {
      const row = await this.post(this.em, {
        userId: viewer.id,
        type: CreditTransactionType.CONSUMPTION,
        amount: -request.amount,
        description: request.description ?? `Used ${request.amount} credit${request.amount === 1 ? '' : 's'} on ${request.feature}`,
        feature: request.feature,
        idempotencyKey: request.idempotencyKey,
        requestHash: hash,
        workshopId: request.workshopId ?? null,
        metadata: request.metadata ?? null,
      });
      if (row) return row;
    } catch (error) {
      if (!isUniqueViolation(error, IDEMPOTENCY_CONSTRAINT)) throw error;
    }
    // Either the key was used before (or by a concurrent request that won), or the balance is too small.
    const previous = await this.replay(viewer.id, request.idempotencyKey, hash);
    if (previous) return previous;
    throw insufficientCredits(await this.balanceOf(viewer.id), request.amount);
  }

  /** Charges a workshop once; charging it again returns the original row and charges nothing. */
  async chargeWorkshop(viewer: User, workshopId: string): Promise<CreditTransaction> {
    const cost = this.options.workshopCreditCost;
    try {
      return await this.em.transactional(async (em) => {
        const workshop = await this.ownedWorkshop(em, viewer.id, workshopId, { lock: true });
        if (workshop.credit_consumed_at) return this.workshopCharge(em, workshopId);
        const row = await this.post(em, {
          userId: viewer.id,
          type: CreditTransactionType.CONSUMPTION,
          amount: -cost,
          description: `Workshop "${String(workshop.title).slice(0, 200)}"`,
          feature: WORKSHOP_FEATURE,
          workshopId,
        });
        if (!row) throw insufficientCredits(await this.balanceOf(viewer.id, em), cost);
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
    const hash = requestHash('grant', { ...request, idempotencyKey: undefined });
    const target = await this.em.execute<Row[]>('select id from users where id = ? and deleted_at is null', [request.userId]);
    if (target.length === 0) throw notFound('User', request.userId);
    try {
      const row = await this.post(this.em, {
        userId: request.userId,
        type: CreditTransactionType.GRANT,
        amount: request.amount,
        description: request.reason,
        idempotencyKey: request.idempotencyKey,
        requestHash: hash,
        metadata: grantedBy ? { grantedBy: grantedBy.id } : null,
      });
      if (row) return row;
      throw new Error(`grant to ${request.userId} was not applied`);
    } catch (error) {
      if (!isUniqueViolation(error, IDEMPOTENCY_CONSTRAINT)) throw error;
      const previous = await this.replay(request.userId, request.idempotencyKey, hash);
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
      idempotencyKey: 'starter-credits',
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
    return this.entity(em, row);
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
        `update credit_transactions set status = 'completed', balance_after = ?, effective_at = now(),
           posting_seq = nextval('credit_transactions_posting_seq'),
           stripe_payment_intent_id = coalesce(?, stripe_payment_intent_id)
         where id = ? returning *`,
        [moved!.credit_balance, paymentIntentId, purchase.id],
      );
      return { outcome: 'completed', transaction: this.entity(em, row!) };
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
      return { outcome: 'failed', transaction: this.entity(em, row!) };
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
      const [user] = await em.execute<Row[]>('select credit_balance from users where id = ? for update', [purchase.user.id]);
      const recovered = Math.min(credits, Number(user!.credit_balance));
      const row = await this.post(em, {
        userId: purchase.user.id,
        type: CreditTransactionType.REFUND,
        amount: -recovered,
        description: request.reason,
        refundOfId: purchase.id,
        creditsReversed: credits,
        stripeSessionId: null,
        stripePaymentIntentId: purchase.stripePaymentIntentId ?? null,
        metadata: { ...request.metadata, unrecoveredCredits: credits - recovered, refundedCreditsTotal: target },
      });
      return { outcome: 'reversed', transaction: row! };
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

  async balanceOf(userId: string, em: EntityManager = this.em): Promise<number> {
    const [row] = await em.execute<Row[]>('select credit_balance from users where id = ?', [userId]);
    return row ? Number(row.credit_balance) : 0;
  }

  private async post(em: EntityManager, posting: Posting): Promise<CreditTransaction | undefined> {
    const [row] = await em.execute<Row[]>(POST_SQL, [
      posting.amount,
      posting.userId,
      posting.amount,
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
    ]);
    return row ? this.entity(em, row) : undefined;
  }

  private metadataJson(metadata: LedgerMetadata | null): string | null {
    const requestId = this.options.requestId;
    if (!metadata && !requestId) return null;
    return JSON.stringify(requestId ? { ...metadata, requestId } : metadata);
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
    return row ? this.entity(em, row) : undefined;
  }

  private entity(em: EntityManager, row: Row): CreditTransaction {
    return em.map(CreditTransaction, row);
  }
}

export interface PurchaseOutcome {
  outcome: string;
  transaction?: CreditTransaction;
}
