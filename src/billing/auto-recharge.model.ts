import { Field, Int, ObjectType } from 'type-graphql';
import { DateTimeScalar, type PgTimestamp } from '../core/date-time.js';
import { CreditPack } from './credit-pack.model.js';

@ObjectType('AutoRechargeAttempt', { description: 'The latest auto-recharge: what became of it.' })
export class AutoRechargeAttemptView {
  @Field(() => String, { description: 'PENDING, PROCESSING (Stripe asked; credits come when it confirms), SUCCEEDED or FAILED.' })
  status!: string;

  @Field(() => String, { nullable: true, description: 'Why it failed: the decline code, `authentication_required` (3-D Secure), ...' })
  reason!: string | null;

  @Field(() => DateTimeScalar, { description: 'When it was recorded.' })
  at!: PgTimestamp | Date;
}

@ObjectType('AutoRecharge', {
  description: 'Buying a pack with the saved card when spending takes the spendable balance under a threshold: at most one in flight, a monthly limit, a back-off after failures.',
})
export class AutoRecharge {
  @Field(() => Boolean, { description: 'Off until configured; off again by itself after four failures in a row.' })
  enabled!: boolean;

  @Field(() => Int, { nullable: true, description: 'A recharge starts when a debit leaves the spendable balance under this.' })
  threshold!: number | null;

  @Field(() => CreditPack, { nullable: true, description: 'The pack each recharge buys.' })
  pack!: CreditPack | null;

  @Field(() => Int, { nullable: true, description: 'Recharges per UTC calendar month, at most.' })
  monthlyLimit!: number | null;

  @Field(() => Int, { description: 'Recharges this UTC month (succeeded, or under way).' })
  usedThisMonth!: number;

  @Field(() => AutoRechargeAttemptView, { nullable: true })
  lastAttempt!: AutoRechargeAttemptView | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'After a failure, no attempt before this (1 h, then 6 h, then 24 h).' })
  nextAttemptNotBefore!: PgTimestamp | Date | null;
}
