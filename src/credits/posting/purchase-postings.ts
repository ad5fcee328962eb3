import type { EntityManager } from '@mikro-orm/postgresql';
import { notFound } from '../../core/errors.js';
import { prefixedId } from '../../core/ids.js';
import type { Row } from '../../database/rows.js';
import { toCreditTransaction, type CreditTransaction, type LedgerMetadata } from '../credit-transaction.model.js';
import type { Postings } from './postings.js';
import { COMPLETE_PURCHASE, FAIL_PURCHASE, RECORD_PENDING_PURCHASE } from './statements.js';

export interface PendingPurchase {
  accountId: string;
  /** Who started it (the buyer); null for sessions made outside the API. */
  actorId: string | null;
  credits: number;
  description: string;
  stripeSessionId: string;
  metadata?: LedgerMetadata;
}

/**
 * The PENDING row of a Checkout Session. A session already recorded (a retried request, or a concurrent webhook
 * delivery crediting a session made outside the API) is not recorded twice: the unique session id decides, and
 * whoever lost waits for the winner's row and gets undefined.
 */
export async function recordPendingPurchase(postings: Postings, em: EntityManager, purchase: PendingPurchase): Promise<CreditTransaction | undefined> {
  const [account] = await em.execute<Row[]>('select 1 from accounts where id = ?', [purchase.accountId]);
  if (!account) throw notFound('Account', purchase.accountId);
  const [row] = await em.execute<Row[]>(
    RECORD_PENDING_PURCHASE.text,
    RECORD_PENDING_PURCHASE.bind({
      id: prefixedId('ctx'),
      accountId: purchase.accountId,
      actorId: purchase.actorId,
      credits: purchase.credits,
      description: purchase.description,
      stripeSessionId: purchase.stripeSessionId,
      metadata: postings.metadataJson(purchase.metadata ?? null),
    }),
  );
  return row ? toCreditTransaction(row) : undefined;
}

/** PENDING -> COMPLETED with the purchase's credits added, in one statement. The caller holds the row's lock. */
export async function completePurchase(
  em: EntityManager,
  purchase: CreditTransaction,
  paymentIntentId: string | null,
  payment: { amountPaid: number; currency: string | null } | null,
): Promise<CreditTransaction> {
  const [row] = await em.execute<Row[]>(
    COMPLETE_PURCHASE.text,
    COMPLETE_PURCHASE.bind({
      purchaseId: purchase.id,
      accountId: purchase.accountId,
      amount: purchase.amount,
      paymentIntentId,
      payment: payment ? JSON.stringify(payment) : null,
    }),
  );
  if (!row) throw new Error(`purchase ${purchase.id} was not PENDING when completed`);
  return toCreditTransaction(row);
}

/** PENDING -> FAILED. The caller holds the row's lock. */
export async function failPurchase(em: EntityManager, purchaseId: string, reason: string): Promise<CreditTransaction> {
  const [row] = await em.execute<Row[]>(FAIL_PURCHASE.text, FAIL_PURCHASE.bind({ purchaseId, reason }));
  if (!row) throw new Error(`purchase ${purchaseId} was not PENDING when failed`);
  return toCreditTransaction(row);
}
