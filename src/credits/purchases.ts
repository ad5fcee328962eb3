import type { EntityManager } from '@mikro-orm/postgresql';
import type { Row } from '../database/rows.js';
import { toCreditTransaction, type CreditTransaction, type LedgerMetadata } from './credit-transaction.model.js';
import { CreditTransactionStatus, CreditTransactionType } from './credit-transaction.enums.js';
import { Postings } from './posting/postings.js';
import { completePurchase, failPurchase, recordPendingPurchase, type PendingPurchase } from './posting/purchase-postings.js';
import { postReversal } from './posting/reversal-postings.js';

export interface PurchaseOutcome {
  outcome: string;
  transaction?: CreditTransaction;
}

export type PurchaseKey = { id: string } | { stripeSessionId: string } | { stripePaymentIntentId: string };

/** Why credits go back: refunds, cumulatively; or one dispute, for its disputed share. */
export type ReversalSource = { kind: 'refund'; cumulativeCredits: number } | { kind: 'dispute'; disputeId: string; credits: number };

/**
 * Credit-pack purchases in the ledger: a PENDING row when Checkout starts, completed or failed once by Stripe's
 * events, and reversed (in part or whole) by refunds and disputes. Lock order: the purchase row, then the account's (see
 * posting/postings.ts). The rows are written by the posting core.
 */
export class Purchases {
  constructor(private readonly postings: Postings) {}

  /**
   * A purchase that has not taken effect: it records the Checkout Session and leaves the balance alone. A session
   * recorded before (a retried request) answers with the row it already has.
   */
  async recordPending(purchase: PendingPurchase): Promise<CreditTransaction> {
    const em = this.postings.em;
    const row = await recordPendingPurchase(this.postings, em, purchase);
    if (row) return row;
    const [existing] = await em.execute<Row[]>('select * from credit_transactions where stripe_session_id = ? and account_id = ?', [
      purchase.stripeSessionId,
      purchase.accountId,
    ]);
    if (!existing) throw new Error(`session ${purchase.stripeSessionId} is recorded for another account`);
    return toCreditTransaction(existing);
  }

  /**
   * PENDING -> COMPLETED for the purchase of a Checkout Session, adding its credits. Runs at most once per session:
   * the purchase row is locked and re-read, so concurrent or repeated deliveries find it COMPLETED and change nothing.
   */
  async complete(
    stripeSessionId: string,
    paymentIntentId: string | null,
    payment: { amountPaid: number; currency: string | null } | null = null,
  ): Promise<PurchaseOutcome> {
    return this.postings.em.transactional(async (em) => {
      const purchase = await this.lockPurchase(em, { stripeSessionId });
      if (!purchase) return { outcome: 'unknown-session' };
      if (purchase.status === CreditTransactionStatus.COMPLETED) return { outcome: 'already-completed', transaction: purchase };
      if (purchase.status === CreditTransactionStatus.FAILED) return { outcome: 'completed-after-failed', transaction: purchase };
      return { outcome: 'completed', transaction: await completePurchase(em, purchase, paymentIntentId, payment) };
    });
  }

  /** PENDING -> FAILED (expired or failed payment). A purchase that already completed is left as it is. */
  async fail(stripeSessionId: string, reason: string): Promise<PurchaseOutcome> {
    return this.postings.em.transactional(async (em) => {
      const purchase = await this.lockPurchase(em, { stripeSessionId });
      if (!purchase) return { outcome: 'unknown-session' };
      if (purchase.status !== CreditTransactionStatus.PENDING) return { outcome: `already-${purchase.status}`, transaction: purchase };
      return { outcome: 'failed', transaction: await failPurchase(em, purchase.id, reason) };
    });
  }

  /**
   * Takes back credits of a completed purchase, for a refund or a dispute. Each source aims at a total of its own:
   * refunds at the refunded share (cumulative, so partial refunds add up and a repeated notice changes nothing), a
   * dispute at its disputed share. Together they never take more than the purchase gave (the clamp), and a dispute
   * that was won no longer counts. What the balance does not hold is recorded on the row as `unrecoveredCredits`.
   */
  async reverse(request: {
    purchase: PurchaseKey;
    source: ReversalSource;
    reason: string;
    metadata?: LedgerMetadata;
    /** The admin who refunded; none for webhooks. */
    actorId?: string | null;
  }): Promise<PurchaseOutcome> {
    return this.postings.em.transactional(async (em) => {
      const purchase = await this.lockPurchase(em, request.purchase);
      if (!purchase) return { outcome: 'unknown-purchase' };
      if (purchase.status !== CreditTransactionStatus.COMPLETED) return { outcome: `purchase-${purchase.status}`, transaction: purchase };
      const { source } = request;
      const accounted = await this.accounted(em, purchase.id, source.kind === 'dispute' ? source.disputeId : null);
      const target = Math.min(Math.max(source.kind === 'refund' ? source.cumulativeCredits : source.credits, 0), purchase.amount);
      const wanted = target - (source.kind === 'refund' ? accounted.refunds : accounted.dispute);
      const credits = Math.min(wanted, purchase.amount - accounted.total);
      if (credits <= 0) return { outcome: 'already-reversed', transaction: purchase };
      const account = await this.postings.lockAccount(em, purchase.accountId);
      await this.postings.expireLapsed(em, account);
      const { row } = await postReversal(
        this.postings,
        em,
        account,
        {
          accountId: purchase.accountId,
          actorId: request.actorId ?? null,
          type: source.kind === 'refund' ? CreditTransactionType.REFUND : CreditTransactionType.DISPUTE,
          description: request.reason,
          refundOfId: purchase.id,
          creditsReversed: credits,
          stripePaymentIntentId: purchase.stripePaymentIntentId,
          metadata: {
            ...request.metadata,
            ...(source.kind === 'refund' ? { refundedCreditsTotal: target } : { disputeId: source.disputeId, disputedCredits: target }),
          },
        },
        credits,
      );
      return { outcome: 'reversed', transaction: row };
    });
  }

  /**
   * A dispute closed in the seller's favour: what its DISPUTE rows took from the balance comes back as one
   * DISPUTE_WON row, and the dispute stops counting against the purchase. Once only: a second call finds nothing
   * outstanding.
   */
  async giveBackDispute(request: { purchase: PurchaseKey; disputeId: string; reason: string; metadata?: LedgerMetadata }): Promise<PurchaseOutcome> {
    return this.postings.em.transactional(async (em) => {
      const purchase = await this.lockPurchase(em, request.purchase);
      if (!purchase) return { outcome: 'unknown-purchase' };
      const [taken] = (await em.execute<Row[]>(
        `select coalesce(sum(credits_reversed), 0)::int as accounted, coalesce(-sum(amount), 0)::int as recovered
         from credit_transactions where refund_of_id = ? and type in ('dispute', 'dispute_won') and metadata->>'disputeId' = ?`,
        [purchase.id, request.disputeId],
      )) as [{ accounted: number; recovered: number }];
      if (taken.accounted <= 0) return { outcome: 'nothing-to-give-back', transaction: purchase };
      const account = await this.postings.lockAccount(em, purchase.accountId);
      const row = await this.postings.debit(
        em,
        account,
        {
          accountId: purchase.accountId,
          type: CreditTransactionType.DISPUTE_WON,
          amount: taken.recovered,
          description: request.reason,
          refundOfId: purchase.id,
          creditsReversed: -taken.accounted,
          stripePaymentIntentId: purchase.stripePaymentIntentId,
          metadata: { ...request.metadata, disputeId: request.disputeId },
        },
        0,
      );
      return { outcome: 'given-back', transaction: row };
    });
  }

  /** What a purchase's reversals account for: refunds, one dispute (net of a give-back), and all of them. */
  private async accounted(em: EntityManager, purchaseId: string, disputeId: string | null) {
    const [row] = (await em.execute<Row[]>(
      `select coalesce(sum(credits_reversed) filter (where type = 'refund'), 0)::int as refunds,
              coalesce(sum(credits_reversed) filter (where type in ('dispute', 'dispute_won') and metadata->>'disputeId' = ?::text), 0)::int as dispute,
              coalesce(sum(credits_reversed), 0)::int as total
       from credit_transactions where refund_of_id = ?`,
      [disputeId, purchaseId],
    )) as [{ refunds: number; dispute: number; total: number }];
    return row;
  }

  /**
   * Credits a paid Checkout Session that has no PENDING row (made outside this API): records the purchase and
   * completes it in one transaction. Concurrent deliveries race on the unique session id; the loser waits for the
   * winner's row, then finds it COMPLETED, so the session is credited once.
   */
  async completeUnrecorded(
    purchase: PendingPurchase & { paymentIntentId: string | null; payment: { amountPaid: number; currency: string | null } | null },
  ): Promise<PurchaseOutcome> {
    return this.postings.em.transactional(async (em) => {
      const inTransaction = new Purchases(new Postings(em, this.postings.options));
      await recordPendingPurchase(this.postings, em, purchase);
      return inTransaction.complete(purchase.stripeSessionId, purchase.paymentIntentId, purchase.payment);
    });
  }

  /** The purchase a refund or dispute names, read (unlocked) to decide what to ask of the ledger. */
  async find(by: PurchaseKey): Promise<CreditTransaction | undefined> {
    return this.lockPurchase(this.postings.em, by, false);
  }

  /** The latest REFUND row of a purchase, if it was refunded. */
  async lastReversalOf(purchaseId: string): Promise<CreditTransaction | undefined> {
    const [row] = await this.postings.em.execute<Row[]>(
      `select * from credit_transactions where refund_of_id = ? and type = 'refund' order by posting_seq desc limit 1`,
      [purchaseId],
    );
    return row ? toCreditTransaction(row) : undefined;
  }

  private async lockPurchase(em: EntityManager, by: PurchaseKey, lock = true): Promise<CreditTransaction | undefined> {
    const [column, value] =
      'id' in by ? ['id', by.id] : 'stripeSessionId' in by ? ['stripe_session_id', by.stripeSessionId] : ['stripe_payment_intent_id', by.stripePaymentIntentId];
    const [row] = await em.execute<Row[]>(
      `select * from credit_transactions where ${column} = ? and type = 'purchase' order by posting_seq limit 1${lock ? ' for update' : ''}`,
      [value],
    );
    return row ? toCreditTransaction(row) : undefined;
  }
}
