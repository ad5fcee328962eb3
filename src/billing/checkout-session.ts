import { Field, ObjectType } from 'type-graphql';
import { Cost } from '../core/cost.js';
import { CreditTransaction } from '../credits/credit-transaction.model.js';

@ObjectType({ description: 'A Stripe Checkout Session for a credit pack: send the buyer to `url`.' })
export class CheckoutSession {
  @Field(() => String, { description: "Stripe's session id (cs_...)." })
  id!: string;

  @Cost(10)
  @Field(() => String, { description: 'The Stripe-hosted payment page.' })
  url!: string;

  @Field(() => CreditTransaction, { description: 'The PENDING purchase; it completes when Stripe confirms payment.' })
  transaction!: CreditTransaction;
}
