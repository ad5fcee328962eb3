import { Field, ID, ObjectType } from 'type-graphql';
import { Cost } from '../core/cost.js';
import { CreditTransaction } from '../credits/credit-transaction.model.js';

@ObjectType('PlanChange', { description: "An account's plan after setPlan." })
export class PlanChange {
  @Field(() => ID, { description: "The account's id: the user's (usr_...) or the organization's (org_...)." })
  id!: string;

  @Field(() => String)
  planTier!: string;

  @Field(() => String)
  previousPlanTier!: string;

  @Field(() => CreditTransaction, { nullable: true, description: 'The PLAN_CHANGE row; null when the account was on that plan already.' })
  transaction!: CreditTransaction | null;
}

@ObjectType('BillingPortalSession', { description: "A session of Stripe's customer portal: send the customer to `url`." })
export class BillingPortalSession {
  @Cost(10)
  @Field(() => String)
  url!: string;
}
