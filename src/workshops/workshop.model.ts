import { Field, ID, ObjectType } from 'type-graphql';
import { Cost, textCost } from '../core/cost.js';
import { DateTimeScalar, type PgTimestamp } from '../core/date-time.js';
import type { Row } from '../database/rows.js';
import { WorkshopStatus } from './workshop-status.js';

/** The Workshop GraphQL type, as a read model of a workshops row (see users/user.model.ts for why). */
@ObjectType('Workshop', { description: 'A unit of work that costs credits once.' })
export class Workshop {
  @Field(() => ID)
  id!: string;

  ownerId!: string;

  /** The account its charge is posted to: the owner's, or an organization's. */
  accountId!: string;

  @Field(() => ID, { nullable: true, description: "The organization whose wallet pays for it; null when it is the owner's own." })
  organizationId!: string | null;

  @Cost(textCost(200))
  @Field(() => String)
  title!: string;

  @Field(() => WorkshopStatus)
  status!: WorkshopStatus;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When the workshop was charged; null until then.' })
  creditConsumedAt!: PgTimestamp | null;

  @Field(() => DateTimeScalar)
  createdAt!: PgTimestamp;

  @Field(() => DateTimeScalar)
  updatedAt!: PgTimestamp;
}

export const toWorkshop = (row: Row): Workshop => ({
  id: String(row.id),
  ownerId: String(row.user_id),
  accountId: String(row.account_id),
  organizationId: row.account_id === row.user_id ? null : String(row.account_id),
  title: String(row.title),
  status: row.status as WorkshopStatus,
  creditConsumedAt: row.credit_consumed_at === null ? null : String(row.credit_consumed_at),
  createdAt: String(row.created_at),
  updatedAt: String(row.updated_at),
});
