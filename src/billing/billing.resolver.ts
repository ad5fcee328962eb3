import { Arg, Authorized, Ctx, Mutation, Resolver } from 'type-graphql';
import { ADMIN_ROLE, perRequest, viewerOf, type RequestContext } from '../core/context.js';
import { idOf, text } from '../core/validation.js';
import { CreditTransaction } from '../credits/credit-transaction.model.js';
import { managedAccount } from '../credits/account-access.js';
import { ledgerOf } from '../credits/ledger-of.js';
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
  async createCheckoutSession(@Arg('input', () => CreateCheckoutSessionInput) input: CreateCheckoutSessionInput, @Ctx() ctx: RequestContext) {
    const { config, stripe } = ctx.services;
    const accountId = await managedAccount(ctx, input.organizationId);
    return createCheckoutSession(
      {
        em: ctx.em,
        ledger: perRequest(ctx, ledgerOf),
        stripe,
        log: ctx.log,
        appUrl: config.appUrl,
        redirectOrigins: config.checkoutRedirectOrigins,
        requestId: ctx.requestId,
      },
      viewerOf(ctx).id,
      { packId: text('input.packId', input.packId, { max: 100 }), accountId, successUrl: input.successUrl, cancelUrl: input.cancelUrl },
    );
  }

  @Authorized(ADMIN_ROLE)
  @Mutation(() => CreditTransaction, {
    description: 'Reverses a completed purchase in full (admin): refunds the payment in Stripe, then removes the credits the balance still holds.',
  })
  refundCredits(@Arg('input', () => RefundCreditsInput) input: RefundCreditsInput, @Ctx() ctx: RequestContext) {
    return refundPurchase(
      { ledger: perRequest(ctx, ledgerOf), stripe: ctx.services.stripe, log: ctx.log },
      {
        transactionId: idOf('ctx', 'input.transactionId', input.transactionId),
        reason: text('input.reason', input.reason, { max: 500 }),
        refundedBy: viewerOf(ctx).id,
      },
    );
  }
}
