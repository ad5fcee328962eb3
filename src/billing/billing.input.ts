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
