import { Arg, Authorized, Ctx, Mutation, Query, Resolver } from 'type-graphql';
import { ADMIN_ROLE, perRequest, viewerOf, type RequestContext } from '../core/context.js';
import { idOf, text } from '../core/validation.js';
import { CreditTransaction } from '../credits/credit-transaction.model.js';
import { managedAccount, targetAccount } from '../credits/account-access.js';
import { ListSize } from '../core/cost.js';
import { ledgerOf } from '../credits/ledger-of.js';
import {
  CreateBillingPortalSessionInput,
  CreateCheckoutSessionInput,
  CreateSubscriptionCheckoutInput,
  RefundCreditsInput,
  SetPlanInput,
} from './billing.input.js';
import { createCheckoutSession, type CheckoutDeps } from './checkout.js';
import { BillingPortalSession, PlanChange } from './plan-change.model.js';
import { activePlans, MAX_LISTED_PLANS, Plan } from './plan.model.js';
import { setPlan } from './set-plan.js';
import { createBillingPortalSession, createSubscriptionCheckout } from './subscription-checkout.js';
import { CheckoutSession } from './checkout-session.js';
import { refundPurchase } from './refund.js';

const checkoutDeps = (ctx: RequestContext): CheckoutDeps => ({
  em: ctx.em,
  ledger: perRequest(ctx, ledgerOf),
  stripe: ctx.services.stripe,
  log: ctx.log,
  appUrl: ctx.services.config.appUrl,
  redirectOrigins: ctx.services.config.checkoutRedirectOrigins,
  requestId: ctx.requestId,
});

@Resolver()
export class BillingResolver {
  @ListSize(MAX_LISTED_PLANS)
  @Query(() => [Plan], { description: 'The plans on offer, in display order (at most 100). Public: no token needed.' })
  plans(@Ctx() ctx: RequestContext) {
    return activePlans(ctx.em);
  }

  @Authorized()
  @Mutation(() => CheckoutSession, {
    description: 'Starts buying a credit pack through Stripe Checkout; the balance changes when Stripe confirms payment.',
  })
  async createCheckoutSession(@Arg('input', () => CreateCheckoutSessionInput) input: CreateCheckoutSessionInput, @Ctx() ctx: RequestContext) {
    const accountId = await managedAccount(ctx, input.organizationId);
    return createCheckoutSession(
      checkoutDeps(ctx),
      viewerOf(ctx).id,
      { packId: text('input.packId', input.packId, { max: 100 }), accountId, successUrl: input.successUrl, cancelUrl: input.cancelUrl },
    );
  }

  @Authorized()
  @Mutation(() => CheckoutSession, {
    description:
      "Starts a subscription to a plan through Stripe Checkout (subscription mode). The plan and each period's credits arrive with Stripe's events; an account with a live subscription changes it in the billing portal instead (CONFLICT).",
  })
  async createSubscriptionCheckout(@Arg('input', () => CreateSubscriptionCheckoutInput) input: CreateSubscriptionCheckoutInput, @Ctx() ctx: RequestContext) {
    const accountId = await managedAccount(ctx, input.organizationId);
    return createSubscriptionCheckout(checkoutDeps(ctx), viewerOf(ctx).id, {
      planId: text('input.planId', input.planId, { max: 100 }),
      accountId,
      successUrl: input.successUrl,
      cancelUrl: input.cancelUrl,
    });
  }

  @Authorized()
  @Mutation(() => BillingPortalSession, {
    description: "Opens Stripe's customer portal for the viewer's (or a managed organization's) billing: change plan, cancel, update the card.",
  })
  async createBillingPortalSession(@Arg('input', () => CreateBillingPortalSessionInput) input: CreateBillingPortalSessionInput, @Ctx() ctx: RequestContext) {
    const accountId = await managedAccount(ctx, input.organizationId);
    return createBillingPortalSession(checkoutDeps(ctx), accountId, input.returnUrl);
  }

  @Authorized(ADMIN_ROLE)
  @Mutation(() => PlanChange, {
    description: 'Puts an account on a plan (admin), for comped or manual plans; recorded as a PLAN_CHANGE row. CONFLICT while a Stripe subscription is live.',
  })
  async setPlan(@Arg('input', () => SetPlanInput) input: SetPlanInput, @Ctx() ctx: RequestContext): Promise<PlanChange> {
    const result = await setPlan(ctx.em, perRequest(ctx, ledgerOf), {
      accountId: targetAccount(input.userId, input.organizationId),
      planId: text('input.planId', input.planId, { max: 100 }),
      reason: text('input.reason', input.reason, { max: 500 }),
      adminId: viewerOf(ctx).id,
    });
    return { id: result.accountId, planTier: result.planTier, previousPlanTier: result.previousPlanTier, transaction: result.transaction };
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
