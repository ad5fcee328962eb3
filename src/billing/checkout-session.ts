import { Field, ObjectType } from 'type-graphql';
import { CreditTransaction } from '../credits/credit-transaction.model.js';

@ObjectType({ description: 'A Stripe Checkout Session for a credit pack: send the buyer to `url`.' })
export class CheckoutSession {
  @Field(() => String, { description: "Stripe's session id (cs_...)." })
  id!: string;

  @Field(() => String, { description: 'The Stripe-hosted payment page.' })
  url!: string;

  @Field(() => CreditTransaction, { description: 'The PENDING purchase; it completes when Stripe confirms payment.' })
  transaction!: CreditTransaction;
}
