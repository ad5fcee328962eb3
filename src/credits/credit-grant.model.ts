import { Field, ID, Int, ObjectType } from 'type-graphql';
import { Cost, ListSize, textCost } from '../core/cost.js';
import { DateTimeScalar, type PgTimestamp } from '../core/date-time.js';
import { PageInfo } from '../core/pagination.js';
import type { Row } from '../database/rows.js';

/** The ExpiringGrant GraphQL type: a grant with an expiry date and what is left of it (a credit_grants row and its GRANT row). */
@ObjectType('ExpiringGrant', { description: 'Credits of a grant that expire: what is left of it is spent first, and removed by an EXPIRATION row at expiresAt.' })
export class ExpiringGrant {
  @Field(() => ID, { description: 'The GRANT ledger row (ctx_...).' })
  id!: string;

  @Field(() => Int, { description: 'What was granted.' })
  amount!: number;

  @Field(() => Int, { description: 'What is left to spend (or to expire).' })
  remaining!: number;

  @Field(() => DateTimeScalar)
  expiresAt!: PgTimestamp;

  @Cost(textCost(500))
  @Field(() => String, { description: "The grant's reason." })
  description!: string;

  @Field(() => DateTimeScalar)
  createdAt!: PgTimestamp;
}

export const toExpiringGrant = (row: Row): ExpiringGrant => ({
  id: String(row.transaction_id),
  amount: Number(row.amount),
  remaining: Number(row.remaining),
  expiresAt: String(row.expires_at),
  description: String(row.description),
  createdAt: String(row.created_at),
});

@ObjectType()
export class ExpiringGrantEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => ExpiringGrant)
  node!: ExpiringGrant;
}

@ObjectType()
export class ExpiringGrantConnection {
  @ListSize(1)
  @Field(() => [ExpiringGrantEdge])
  edges!: ExpiringGrantEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
