import type { EntityManager } from '@mikro-orm/postgresql';
import type { Row } from '../database/rows.js';
import { toCreditTransaction, type CreditTransaction, type LedgerMetadata } from './credit-transaction.model.js';
import { CreditTransactionStatus, CreditTransactionType } from './credit-transaction.enums.js';
import { Postings, type Posting } from './posting/postings.js';
import { completePurchase, failPurchase, recordPendingPurchase, type PendingPurchase } from './posting/purchase-postings.js';

export interface PurchaseOutcome {
  outcome: string;
  transaction?: CreditTransaction;
}

export type PurchaseKey = { id: string } | { stripeSessionId: string } | { stripePaymentIntentId: string };

/**
 * Credit-pack purchases in the ledger: a PENDING row when Checkout starts, completed or failed once by Stripe's
 * events, and reversed (in part or whole) by refunds. Lock order: the purchase row, then the user's (see
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
    const [existing] = await em.execute<Row[]>('select * from credit_transactions where stripe_session_id = ? and user_id = ?', [
      purchase.stripeSessionId,
      purchase.userId,
    ]);
    if (!existing) throw new Error(`session ${purchase.stripeSessionId} is recorded for another user`);
    return toCreditTransaction(existing);
  }

  /**
   * PENDING -> COMPLETED for the purchase of a Checkout Session, adding its credits. Runs at most once per session:
   * the purchase row is locked and re-read, so concurrent or repeated deliveries find it COMPLETED and change nothing.
   */
  async complete(stripeSessionId: string, paymentIntentId: string | null): Promise<PurchaseOutcome> {
    return this.postings.em.transactional(async (em) => {
      const purchase = await this.lockPurchase(em, { stripeSessionId });
      if (!purchase) return { outcome: 'unknown-session' };
      if (purchase.status === CreditTransactionStatus.COMPLETED) return { outcome: 'already-completed', transaction: purchase };
      if (purchase.status === CreditTransactionStatus.FAILED) return { outcome: 'completed-after-failed', transaction: purchase };
      return { outcome: 'completed', transaction: await completePurchase(em, purchase, paymentIntentId) };
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
   * Reverses credits of a completed purchase up to `cumulativeCredits` in total over all its refunds (so partial
   * refunds add up and a repeated refund notice changes nothing). What the balance cannot cover is not taken (the
   * balance never goes below zero); it is recorded on the REFUND row as `unrecoveredCredits`.
   */
  async reverse(request: { purchase: PurchaseKey; cumulativeCredits: number; reason: string; metadata?: LedgerMetadata }): Promise<PurchaseOutcome> {
    return this.postings.em.transactional(async (em) => {
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
      const account = await this.postings.lockAccount(em, purchase.userId);
      await this.postings.expireLapsed(em, account);
      // Held credits are promised to open reservations, so only the spendable balance can be recovered. Credits
      // that never expire go first; expiring grants cover the rest (recorded as allocations like a consumption).
      const recovered = Math.min(credits, Math.max(0, account.balance - account.held));
      const fromGrants = Math.max(0, recovered - (account.balance - account.expiring));
      const refund: Posting = {
        userId: purchase.userId,
        type: CreditTransactionType.REFUND,
        amount: -recovered,
        description: request.reason,
        refundOfId: purchase.id,
        creditsReversed: credits,
        stripeSessionId: null,
        stripePaymentIntentId: purchase.stripePaymentIntentId,
        metadata: { ...request.metadata, unrecoveredCredits: credits - recovered, refundedCreditsTotal: target },
      };
      return { outcome: 'reversed', transaction: await this.postings.debit(em, account, refund, fromGrants) };
    });
  }

  /**
   * Credits a paid Checkout Session that has no PENDING row (made outside this API): records the purchase and
   * completes it in one transaction. Concurrent deliveries race on the unique session id; the loser waits for the
   * winner's row, then finds it COMPLETED, so the session is credited once.
   */
  async completeUnrecorded(purchase: PendingPurchase & { paymentIntentId: string | null }): Promise<PurchaseOutcome> {
    return this.postings.em.transactional(async (em) => {
      const inTransaction = new Purchases(new Postings(em, this.postings.options));
      await recordPendingPurchase(this.postings, em, purchase);
      return inTransaction.complete(purchase.stripeSessionId, purchase.paymentIntentId);
    });
  }

  /** The purchase a refund or dispute names, read (unlocked) to decide what to ask of the ledger. */
  async find(by: PurchaseKey): Promise<CreditTransaction | undefined> {
    return this.lockPurchase(this.postings.em, by, false);
  }

  /** The latest REFUND row of a purchase, if it was reversed. */
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
