import { Arg, Authorized, Ctx, Mutation, Resolver } from 'type-graphql';
import { CreditTransaction } from '../credits/credit-transaction.entity.js';
import { viewerOf, type Context } from '../graphql/context.js';
import { idOf, text } from '../graphql/validation.js';
import { ADMIN_ROLE } from '../users/user.entity.js';
import { CreateCheckoutSessionInput, RefundCreditsInput } from './billing.input.js';
import { createCheckoutSession } from './checkout.js';
import { CheckoutSession } from './checkout-session.js';
import { refundPurchase } from './refund.js';

@Resolver()
export class BillingResolver {
  @Authorized()
  @Mutation(() => CheckoutSession, {
    description: 'Starts buying a credit pack through Stripe Checkout; the balance changes when Stripe confirms payment.',
  })
  createCheckoutSession(@Arg('input', () => CreateCheckoutSessionInput) input: CreateCheckoutSessionInput, @Ctx() ctx: Context) {
    return createCheckoutSession(ctx, viewerOf(ctx), input);
  }

  @Authorized(ADMIN_ROLE)
  @Mutation(() => CreditTransaction, {
    description: "Reverses a completed purchase in full (admin): refunds the payment in Stripe, then removes the credits the balance still holds.",
  })
  refundCredits(@Arg('input', () => RefundCreditsInput) input: RefundCreditsInput, @Ctx() ctx: Context) {
    return refundPurchase(ctx, viewerOf(ctx), {
      transactionId: idOf('ctx', 'input.transactionId', input.transactionId),
      reason: text('input.reason', input.reason, { max: 500 }),
    });
  }
}
