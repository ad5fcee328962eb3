import { Field, ID, InputType, Int } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';

@InputType()
export class ConsumeCreditsInput {
  @Field(() => Int, { description: '1 .. 1,000,000' })
  amount!: number;

  @Field(() => String, { description: '1..64 characters of [a-z0-9_.-], e.g. "document_generation".' })
  feature!: string;

  @Field(() => String, { description: '1..255 characters, unique per user forever. A retry returns the original row.' })
  idempotencyKey!: string;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => ID, { nullable: true })
  workshopId?: string | null;

  @Field(() => GraphQLJSON, { nullable: true })
  metadata?: unknown;

  @Field(() => ID, { nullable: true, description: "Spend from this organization's wallet (the viewer must be a member; it counts against their monthly limit). Omitted: the viewer's own." })
  organizationId?: string | null;
}

@InputType()
export class GrantCreditsInput {
  @Field(() => ID, { nullable: true, description: 'The user to credit (usr_...); exactly one of userId and organizationId.' })
  userId?: string | null;

  @Field(() => ID, { nullable: true, description: 'The organization to credit (org_...); exactly one of userId and organizationId.' })
  organizationId?: string | null;

  @Field(() => Int)
  amount!: number;

  @Field(() => String)
  reason!: string;

  @Field(() => String)
  idempotencyKey!: string;

  @Field(() => Date, {
    nullable: true,
    description: 'Optional, in the future: credits of this grant not spent by then expire (an EXPIRATION row). Expiring credits are spent first.',
  })
  expiresAt?: Date | null;
}
