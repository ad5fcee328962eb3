import { Field, ID, InputType } from 'type-graphql';

@InputType()
export class CreateCheckoutSessionInput {
  @Field(() => ID, { description: 'A credit pack id from `creditPacks`.' })
  packId!: string;

  @Field(() => String, { nullable: true, description: 'Where Stripe sends the buyer after paying; default from APP_URL.' })
  successUrl?: string | null;

  @Field(() => String, { nullable: true, description: 'Where Stripe sends the buyer on cancel; default from APP_URL.' })
  cancelUrl?: string | null;

  @Field(() => ID, { nullable: true, description: "Buy for this organization's wallet (its OWNER or ADMIN only). Omitted: the viewer's own." })
  organizationId?: string | null;
}

@InputType()
export class RefundCreditsInput {
  @Field(() => ID, { description: 'The PURCHASE transaction (ctx_...) to reverse.' })
  transactionId!: string;

  @Field(() => String, { description: '1..500 characters; becomes the REFUND row description.' })
  reason!: string;
}

@InputType()
export class CreateSubscriptionCheckoutInput {
  @Field(() => ID, { description: 'A plan id from `plans` with a Stripe Price.' })
  planId!: string;

  @Field(() => ID, { nullable: true, description: 'Subscribe this organization (its OWNER or ADMIN only). Omitted: the viewer.' })
  organizationId?: string | null;

  @Field(() => String, { nullable: true, description: 'Where Stripe sends the buyer after subscribing; default from APP_URL.' })
  successUrl?: string | null;

  @Field(() => String, { nullable: true, description: 'Where Stripe sends the buyer on cancel; default from APP_URL.' })
  cancelUrl?: string | null;
}

@InputType()
export class CreateBillingPortalSessionInput {
  @Field(() => ID, { nullable: true, description: "This organization's billing (its OWNER or ADMIN only). Omitted: the viewer's own." })
  organizationId?: string | null;

  @Field(() => String, { nullable: true, description: 'Where the portal sends the customer back; default APP_URL/billing. Must be on an allowed origin.' })
  returnUrl?: string | null;
}

@InputType()
export class SetPlanInput {
  @Field(() => ID, { nullable: true, description: 'The user whose personal account changes plan (give this or organizationId).' })
  userId?: string | null;

  @Field(() => ID, { nullable: true, description: 'The organization that changes plan (give this or userId).' })
  organizationId?: string | null;

  @Field(() => ID, { description: 'A plan id from `plans`.' })
  planId!: string;

  @Field(() => String, { description: '1..500 characters; recorded on the PLAN_CHANGE row.' })
  reason!: string;
}
