import { Field, ID, Int, ObjectType } from 'type-graphql';
import { Cost, ListSize, textCost } from '../core/cost.js';
import { DateTimeScalar, type PgTimestamp } from '../core/date-time.js';
import { PageInfo } from '../core/pagination.js';
import type { Row } from '../database/rows.js';
import { ReservationStatus } from './reservation-status.js';

/** The Reservation GraphQL type, as a read model of a reservations row (see credit-transaction.model.ts). */
@ObjectType('Reservation', { description: 'Credits held for work whose cost is known only at the end; captured, released or expired once.' })
export class Reservation {
  @Field(() => ID)
  id!: string;

  /** The account whose credits it holds. */
  accountId!: string;

  /** Who reserved: the user, or on an organization's wallet the member whose monthly limit it counts against. */
  actorId!: string | null;

  @Field(() => Int, { description: 'Credits held now: what was reserved, less what a refund or dispute took (reversedAmount).' })
  amount!: number;

  @Field(() => Int, { description: "Credits a refund or dispute of the buyer's purchase took from this hold; a capture can charge only what is left." })
  reversedAmount!: number;

  @Field(() => ReservationStatus)
  status!: ReservationStatus;

  @Field(() => String, { description: 'The feature the capture is charged under.' })
  feature!: string;

  @Cost(textCost(255))
  @Field(() => String)
  idempotencyKey!: string;

  requestHash!: string;

  @Cost(textCost(500))
  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => DateTimeScalar, { description: 'When an unresolved hold lapses and its credits are freed.' })
  expiresAt!: PgTimestamp;

  @Field(() => Int, { nullable: true, description: 'What the capture charged; null unless CAPTURED.' })
  capturedAmount!: number | null;

  /** The CONSUMPTION row of the capture. */
  transactionId!: string | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When it was captured, released or expired.' })
  resolvedAt!: PgTimestamp | null;

  /** Who captured or released it (resolved by Reservation.resolvedBy); null for an expiry. */
  resolvedById!: string | null;

  @Cost(textCost(500))
  @Field(() => String, { nullable: true, description: 'Why it was released, when the one who released it said (required of an admin releasing another user\'s hold).' })
  resolutionReason!: string | null;

  @Field(() => DateTimeScalar)
  createdAt!: PgTimestamp;
}

const text = (value: unknown) => (value === null || value === undefined ? null : String(value));

export const toReservation = (row: Row): Reservation => ({
  id: String(row.id),
  accountId: String(row.account_id),
  actorId: text(row.actor_id),
  amount: Number(row.amount),
  reversedAmount: Number(row.reversed_amount ?? 0),
  status: row.status as ReservationStatus,
  feature: String(row.feature),
  idempotencyKey: String(row.idempotency_key),
  requestHash: String(row.request_hash),
  description: text(row.description),
  expiresAt: String(row.expires_at),
  capturedAmount: row.captured_amount === null || row.captured_amount === undefined ? null : Number(row.captured_amount),
  transactionId: text(row.transaction_id),
  resolvedAt: text(row.resolved_at),
  resolvedById: text(row.resolved_by_id),
  resolutionReason: text(row.resolution_reason),
  createdAt: String(row.created_at),
});

@ObjectType()
export class ReservationEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => Reservation)
  node!: Reservation;
}

@ObjectType()
export class ReservationConnection {
  @ListSize(1)
  @Field(() => [ReservationEdge])
  edges!: ReservationEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
