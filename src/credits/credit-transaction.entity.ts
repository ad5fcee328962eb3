import { Check, Entity, Enum, Index, ManyToOne, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';
import { Field, ID, Int, ObjectType } from 'type-graphql';
import { GraphQLJSON } from 'graphql-scalars';
import { OptionalProps } from '@mikro-orm/core';
import { prefixedId } from '../database/ids.js';
import { rowView } from '../database/row-view.js';
import { User } from '../users/user.entity.js';
import { Workshop } from '../workshops/workshop.entity.js';
import { CreditTransactionStatus, CreditTransactionType } from './credit-transaction.enums.js';

export type LedgerMetadata = Record<string, unknown>;

/**
 * One row of the append-only ledger. Rows are never deleted; the only change to a row is PENDING to COMPLETED or
 * FAILED. `postingSeq` is drawn while the owner's row is locked, so it orders a user's rows as they took effect.
 */
@ObjectType({ description: 'One entry of the append-only credit ledger.' })
@Entity({ tableName: 'credit_transactions' })
@Index({ name: 'credit_transactions_user_keyset_index', properties: ['user', 'postingSeq'] })
@Index({ name: 'credit_transactions_user_type_index', properties: ['user', 'type', 'postingSeq'] })
// Balance at a time and usage windows: effective_at is monotonic in posting order per user (see postings.ts).
@Index({ name: 'credit_transactions_user_effective_index', properties: ['user', 'effectiveAt', 'postingSeq'] })
@Unique({ name: 'credit_transactions_user_idempotency_key_unique', properties: ['user', 'idempotencyKey'] })
@Unique({
  name: 'credit_transactions_workshop_charge_unique',
  properties: ['workshop'],
  where: "type = 'consumption' and feature = 'workshop' and status = 'completed'",
})
@Check({
  name: 'credit_transactions_amount_sign_check',
  expression: "(type in ('purchase', 'grant') and amount > 0) or (type in ('consumption', 'refund', 'expiration') and amount <= 0)",
})
@Check({ name: 'credit_transactions_balance_after_check', expression: 'balance_after >= 0' })
export class CreditTransaction {
  [OptionalProps]?: 'id' | 'createdAt';

  @Field(() => ID)
  @PrimaryKey({ type: 'text' })
  id: string = prefixedId('ctx');

  @ManyToOne(() => User, { deleteRule: 'no action' })
  user!: User;

  @Field(() => CreditTransactionType)
  @Enum({ items: () => CreditTransactionType, type: 'text' })
  type!: CreditTransactionType;

  @Field(() => CreditTransactionStatus)
  @Enum({ items: () => CreditTransactionStatus, type: 'text' })
  status!: CreditTransactionStatus;

  @Field(() => Int, { description: 'Signed: +purchase/+grant, -consumption, -refund, -expiration.' })
  @Property({ type: 'integer' })
  amount!: number;

  @Field(() => Int, { description: "The user's balance right after this row took effect." })
  @Property({ type: 'integer' })
  balanceAfter!: number;

  @Field(() => String)
  @Property({ type: 'text' })
  description!: string;

  @Field(() => String, { nullable: true, description: 'What was consumed, e.g. "workshop".' })
  @Property({ type: 'text', nullable: true })
  feature?: string | null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  idempotencyKey?: string | null;

  /** Fingerprint of the request that used `idempotencyKey`, to tell a retry from a conflicting reuse. */
  @Property({ type: 'text', nullable: true })
  requestHash?: string | null;

  @Index({ name: 'credit_transactions_workshop_id_index' })
  @ManyToOne(() => Workshop, { nullable: true, deleteRule: 'set null' })
  workshop?: Workshop | null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true, unique: 'credit_transactions_stripe_session_id_unique' })
  stripeSessionId?: string | null;

  @Index({ name: 'credit_transactions_stripe_payment_intent_id_index' })
  @Property({ type: 'text', nullable: true })
  stripePaymentIntentId?: string | null;

  /** For a REFUND row: the purchase it reverses. */
  @Index({ name: 'credit_transactions_refund_of_id_index' })
  @ManyToOne(() => CreditTransaction, { nullable: true, deleteRule: 'no action' })
  refundOf?: CreditTransaction | null;

  /** For a REFUND row: credits the refund accounted for, recovered (-amount) or not. */
  @Property({ type: 'integer', nullable: true })
  creditsReversed?: number | null;

  @Field(() => GraphQLJSON, { nullable: true })
  @Property({ type: 'jsonb', nullable: true })
  metadata?: LedgerMetadata | null;

  @Property({
    type: 'bigint',
    autoincrement: true,
    unique: 'credit_transactions_posting_seq_unique',
  })
  postingSeq?: string;

  /** When the row took effect (became COMPLETED); null while PENDING and for FAILED rows. */
  @Field(() => Date, { nullable: true, description: 'When the row took effect (changed the balance); null unless COMPLETED.' })
  @Property({ type: 'timestamptz', nullable: true })
  effectiveAt?: Date | null;

  @Field(() => Date)
  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();
}

/**
 * A ledger row as a plain object of the GraphQL type's shape (see database/row-view.ts). Ledger rows change only
 * through SQL (postings.ts and the ledger services), never through the ORM's change tracking, so every row the
 * ledger returns is one of these.
 */
export const transactionView = (row: Record<string, unknown>): CreditTransaction =>
  rowView(CreditTransaction, row, { user_id: 'user', workshop_id: 'workshop', refund_of_id: 'refundOf' });
