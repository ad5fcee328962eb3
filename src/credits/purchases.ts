import type { EntityManager } from '@mikro-orm/postgresql';
import { prefixedId } from '../database/ids.js';
import { notFound } from '../graphql/errors.js';
import { transactionView, type CreditTransaction, type LedgerMetadata } from './credit-transaction.entity.js';
import { CreditTransactionStatus, CreditTransactionType } from './credit-transaction.enums.js';
import { isUniqueViolation, STRIPE_SESSION_CONSTRAINT } from './ledger-sql.js';
import { Postings, type Posting, type Row } from './postings.js';

export interface PurchaseOutcome {
  outcome: string;
  transaction?: CreditTransaction;
}

/**
 * Credit-pack purchases in the ledger: a PENDING row when Checkout starts, completed or failed once by Stripe's
 * events, and reversed (in part or whole) by refunds. Lock order: the purchase row, then the user's (see postings.ts).
 */
export class Purchases {
  constructor(private readonly postings: Postings) {}

  /** A purchase that has not taken effect: it records the Checkout Session and leaves the balance alone. */
  async recordPending(purchase: {
    userId: string;
    credits: number;
    description: string;
    stripeSessionId: string;
    metadata?: LedgerMetadata;
    em?: EntityManager;
  }): Promise<CreditTransaction> {
    const em = purchase.em ?? this.postings.em;
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
        this.postings.metadataJson(purchase.metadata ?? null),
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
  async complete(stripeSessionId: string, paymentIntentId: string | null): Promise<PurchaseOutcome> {
    return this.postings.em.transactional(async (em) => {
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
  async fail(stripeSessionId: string, reason: string): Promise<PurchaseOutcome> {
    return this.postings.em.transactional(async (em) => {
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
  async reverse(request: {
    purchase: { id: string } | { stripePaymentIntentId: string };
    cumulativeCredits: number;
    reason: string;
    metadata?: LedgerMetadata;
  }): Promise<PurchaseOutcome> {
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
      const account = await this.postings.lockAccount(em, purchase.user.id);
      await this.postings.expireLapsed(em, account);
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
      return { outcome: 'reversed', transaction: await this.postings.debit(em, account, refund, fromGrants) };
    });
  }

  /**
   * Credits a paid Checkout Session that has no PENDING row (made outside this API): records the purchase and
   * completes it in one transaction. Concurrent deliveries race on the unique session id; the loser waits for the
   * winner's row, then finds it COMPLETED, so the session is credited once.
   */
  async completeUnrecorded(purchase: {
    userId: string;
    credits: number;
    description: string;
    stripeSessionId: string;
    paymentIntentId: string | null;
    metadata?: LedgerMetadata;
  }): Promise<PurchaseOutcome> {
    return this.postings.em.transactional(async (em) => {
      const purchases = new Purchases(new Postings(em, this.postings.options));
      try {
        await em.transactional((savepoint) => purchases.recordPending({ ...purchase, em: savepoint }));
      } catch (error) {
        if (!isUniqueViolation(error, STRIPE_SESSION_CONSTRAINT)) throw error;
      }
      return purchases.complete(purchase.stripeSessionId, purchase.paymentIntentId);
    });
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
