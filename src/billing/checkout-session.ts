import { Field, ObjectType } from 'type-graphql';
import { Cost } from '../core/cost.js';
import { CreditTransaction } from '../credits/credit-transaction.model.js';

@ObjectType({ description: 'A Stripe Checkout Session (a credit pack, or a subscription to a plan): send the buyer to `url`.' })
export class CheckoutSession {
  @Field(() => String, { description: "Stripe's session id (cs_...)." })
  id!: string;

  @Cost(10)
  @Field(() => String, { description: 'The Stripe-hosted payment page.' })
  url!: string;

  @Field(() => CreditTransaction, {
    nullable: true,
    description: "A credit pack's PENDING purchase, which completes when Stripe confirms payment; null for a subscription (its invoices bring the credits).",
  })
  transaction!: CreditTransaction | null;
}
