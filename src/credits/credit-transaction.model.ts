import { GraphQLJSON } from 'graphql-scalars';
import { Field, ID, Int, ObjectType } from 'type-graphql';
import { Cost, textCost } from '../core/cost.js';
import { DateTimeScalar, type PgTimestamp } from '../core/date-time.js';
import { MAX_METADATA_BYTES } from '../core/validation.js';
import type { Row } from '../database/rows.js';
import { CreditTransactionStatus, CreditTransactionType } from './credit-transaction.enums.js';

export type LedgerMetadata = Record<string, unknown>;

/**
 * The CreditTransaction GraphQL type: one ledger row as a read model. Ledger rows change only through SQL (the
 * posting core), never through the ORM, so rows are read straight into this shape (`toCreditTransaction`) and every
 * resolver sees this one shape. Rows are never deleted; the only change to a row is PENDING to COMPLETED or FAILED.
 */
@ObjectType('CreditTransaction', { description: 'One entry of the append-only credit ledger.' })
export class CreditTransaction {
  @Field(() => ID)
  id!: string;

  /** The account whose balance the row changes: a user's personal account (the user's id) or an organization's. */
  accountId!: string;

  /** Who made it happen (resolved by CreditTransaction.actor); null for jobs and webhooks. */
  actorId!: string | null;

  @Field(() => CreditTransactionType)
  type!: CreditTransactionType;

  @Field(() => CreditTransactionStatus)
  status!: CreditTransactionStatus;

  @Field(() => Int, { description: 'Signed: +purchase/+grant, -consumption, -refund, -expiration.' })
  amount!: number;

  @Field(() => Int, { description: "The account's balance right after this row took effect." })
  balanceAfter!: number;

  @Cost(textCost(500))
  @Field(() => String)
  description!: string;

  @Field(() => String, { nullable: true, description: 'What was consumed, e.g. "workshop".' })
  feature!: string | null;

  @Cost(textCost(255))
  @Field(() => String, { nullable: true })
  idempotencyKey!: string | null;

  /** Fingerprint of the request that used `idempotencyKey`, to tell a retry from a conflicting reuse. */
  requestHash!: string | null;

  workshopId!: string | null;

  @Field(() => String, { nullable: true })
  stripeSessionId!: string | null;

  stripePaymentIntentId!: string | null;

  /** For a REFUND row: the purchase it reverses, and the credits it accounted for (recovered or not). */
  @Field(() => ID, { nullable: true, name: 'purchaseId', description: 'For a REFUND, DISPUTE or DISPUTE_WON row: the PURCHASE row (ctx_...) it reverses or gives back.' })
  refundOfId!: string | null;

  @Field(() => ID, { nullable: true, description: 'For the CONSUMPTION row of a capture: its reservation (rsv_...).' })
  reservationId!: string | null;
  creditsReversed!: number | null;

  // The client's object (at most MAX_METADATA_BYTES) and the request id Tally adds.
  @Cost(Math.ceil((MAX_METADATA_BYTES + 200) / 100))
  @Field(() => GraphQLJSON, { nullable: true })
  metadata!: LedgerMetadata | null;

  /** Orders an account's rows as they took effect (drawn while its row is locked); a bigint, as text. */
  postingSeq!: string;

  @Field(() => DateTimeScalar, { nullable: true, description: 'When the row took effect (changed the balance); null unless COMPLETED.' })
  effectiveAt!: PgTimestamp | null;

  @Field(() => DateTimeScalar)
  createdAt!: PgTimestamp;
}

const text = (value: unknown) => (value === null || value === undefined ? null : String(value));

/** A capture's row names its reservation in its metadata (hold-postings.ts). */
const reservationOf = (metadata: unknown): string | null => {
  const id = (metadata as { reservationId?: unknown } | null)?.reservationId;
  return typeof id === 'string' ? id : null;
};

export const toCreditTransaction = (row: Row): CreditTransaction => ({
  id: String(row.id),
  accountId: String(row.account_id),
  actorId: text(row.actor_id),
  type: row.type as CreditTransactionType,
  status: row.status as CreditTransactionStatus,
  amount: Number(row.amount),
  balanceAfter: Number(row.balance_after),
  description: String(row.description),
  feature: text(row.feature),
  idempotencyKey: text(row.idempotency_key),
  requestHash: text(row.request_hash),
  workshopId: text(row.workshop_id),
  stripeSessionId: text(row.stripe_session_id),
  stripePaymentIntentId: text(row.stripe_payment_intent_id),
  refundOfId: text(row.refund_of_id),
  reservationId: reservationOf(row.metadata),
  creditsReversed: row.credits_reversed === null || row.credits_reversed === undefined ? null : Number(row.credits_reversed),
  metadata: (row.metadata ?? null) as LedgerMetadata | null,
  postingSeq: String(row.posting_seq),
  effectiveAt: text(row.effective_at),
  createdAt: String(row.created_at),
});
