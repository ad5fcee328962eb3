import type Stripe from 'stripe';
import { badUserInput, notFound } from '../core/errors.js';
import type { CreditTransaction } from '../credits/credit-transaction.model.js';
import { CreditTransactionStatus, CreditTransactionType } from '../credits/credit-transaction.enums.js';
import type { Ledger } from '../credits/ledger.js';
import type { Logger } from '../logger.js';
import { isStripeError, stripeFailure } from './stripe-errors.js';

export interface RefundDeps {
  ledger: Ledger;
  stripe?: Stripe;
  log: Logger;
}

export interface RefundRequest {
  transactionId: string;
  reason: string;
  /** The admin who asked, recorded on the REFUND row. */
  refundedBy: string;
}

/**
 * Reverses a completed purchase in full (admin). When Stripe is configured the money goes back first and the credits
 * after: if we stopped in between, the `charge.refunded` webhook reverses the credits anyway, whereas the other order
 * could take credits without returning the money. The webhook aims at the same cumulative total, so whichever of the
 * two comes second finds nothing left to reverse. No database transaction is open while Stripe is asked.
 */
export async function refundPurchase(deps: RefundDeps, request: RefundRequest): Promise<CreditTransaction> {
  const { ledger, stripe, log } = deps;
  const purchase = await ledger.purchases.find({ id: request.transactionId });
  if (!purchase || purchase.type !== CreditTransactionType.PURCHASE) throw notFound('Purchase', request.transactionId);
  if (purchase.status !== CreditTransactionStatus.COMPLETED) {
    throw badUserInput('input.transactionId', `only a completed purchase can be refunded; this one is ${purchase.status}`);
  }

  let stripeRefundId: string | undefined;
  if (stripe && purchase.stripePaymentIntentId) {
    try {
      const refund = await stripe.refunds.create(
        { payment_intent: purchase.stripePaymentIntentId, metadata: { transactionId: purchase.id } },
        { idempotencyKey: `tally-refund-${purchase.id}` },
      );
      stripeRefundId = refund.id;
    } catch (error) {
      // Refunded already (in the dashboard, or by an earlier call whose reversal did not happen): finish the reversal.
      if (!isStripeError(error, 'charge_already_refunded')) throw stripeFailure(log, 'refund the payment', error);
    }
  }

  const result = await ledger.purchases.reverse({
    purchase: { id: purchase.id },
    source: { kind: 'refund', cumulativeCredits: purchase.amount },
    actorId: request.refundedBy,
    reason: request.reason,
    metadata: { refundedBy: request.refundedBy, ...(stripeRefundId ? { stripeRefundId } : {}) },
  });
  if (result.outcome === 'reversed') {
    log.info({ purchaseId: purchase.id, refundId: result.transaction?.id, stripeRefundId }, 'purchase refunded');
    return result.transaction!;
  }
  // Reversed in full before (a repeated call, or the webhook got there first): the reversal that did it.
  const previous = await ledger.purchases.lastReversalOf(purchase.id);
  if (result.outcome === 'already-reversed' && previous) return previous;
  throw badUserInput('input.transactionId', `the purchase cannot be refunded (${result.outcome})`);
}
