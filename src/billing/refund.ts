import { CreditTransaction } from '../credits/credit-transaction.entity.js';
import { CreditTransactionStatus, CreditTransactionType } from '../credits/credit-transaction.enums.js';
import type { Context } from '../graphql/context.js';
import { badUserInput, notFound } from '../graphql/errors.js';
import type { User } from '../users/user.entity.js';
import { isStripeError, stripeFailure } from './stripe-errors.js';

export interface RefundRequest {
  transactionId: string;
  reason: string;
}

/**
 * Reverses a completed purchase in full (admin). When Stripe is configured the money goes back first and the credits
 * after: if we stopped in between, the `charge.refunded` webhook reverses the credits anyway, whereas the other order
 * could take credits without returning the money. The webhook aims at the same cumulative total, so whichever of the
 * two comes second finds nothing left to reverse.
 */
export async function refundPurchase(ctx: Context, admin: User, request: RefundRequest): Promise<CreditTransaction> {
  const { em, ledger, services, log } = ctx;
  const purchase = await em.findOne(CreditTransaction, { id: request.transactionId });
  if (!purchase || purchase.type !== CreditTransactionType.PURCHASE) throw notFound('Purchase', request.transactionId);
  if (purchase.status !== CreditTransactionStatus.COMPLETED) {
    throw badUserInput('input.transactionId', `only a completed purchase can be refunded; this one is ${purchase.status}`);
  }

  let stripeRefundId: string | undefined;
  if (services.stripe && purchase.stripePaymentIntentId) {
    try {
      const refund = await services.stripe.refunds.create(
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
    cumulativeCredits: purchase.amount,
    reason: request.reason,
    metadata: { refundedBy: admin.id, ...(stripeRefundId ? { stripeRefundId } : {}) },
  });
  if (result.outcome === 'reversed') {
    log.info({ purchaseId: purchase.id, refundId: result.transaction?.id, stripeRefundId }, 'purchase refunded');
    return result.transaction!;
  }
  // Reversed in full before (a repeated call, or the webhook got there first): the reversal that did it.
  const previous = await em.fork().findOne(
    CreditTransaction,
    { refundOf: purchase.id, type: CreditTransactionType.REFUND },
    { orderBy: { postingSeq: 'desc' } },
  );
  if (result.outcome === 'already-reversed' && previous) return previous;
  throw badUserInput('input.transactionId', `the purchase cannot be refunded (${result.outcome})`);
}
