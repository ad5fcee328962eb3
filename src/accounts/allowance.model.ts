import { Field, Int, ObjectType } from 'type-graphql';
import { DateTimeScalar, type PgTimestamp } from '../core/date-time.js';

/** The credits an account's plan gave for the period under way, and how much of them is left. */
@ObjectType('Allowance', {
  description: "The current period's credits from the plan (a subscription period, or the calendar month without one): \"32 of 50 used\".",
})
export class Allowance {
  @Field(() => DateTimeScalar)
  periodStart!: PgTimestamp | Date;

  @Field(() => DateTimeScalar, { description: 'When the period ends and what is left of its credits expires (up to the rollover cap carries over).' })
  periodEnd!: PgTimestamp | Date;

  @Field(() => Int, { description: "Credits granted for the period: the plan's, an upgrade's top-up and what rolled over." })
  granted!: number;

  @Field(() => Int, { description: 'Of those, spent (or otherwise taken) so far.' })
  used!: number;

  @Field(() => Int, { description: 'Of those, still to spend before the period ends.' })
  remaining!: number;
}
