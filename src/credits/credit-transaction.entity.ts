import { Check, Entity, Enum, Index, ManyToOne, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import { AccountEntity } from '../accounts/account.entity.js';
import { UserEntity } from '../users/user.entity.js';
import { WorkshopEntity } from '../workshops/workshop.entity.js';
import { CreditTransactionStatus, CreditTransactionType } from './credit-transaction.enums.js';

/**
 * The credit_transactions table (the append-only ledger) as the schema's source. Rows are written by the posting
 * core alone (credits/posting/) and read into the CreditTransaction read model (credit-transaction.model.ts).
 */
@Entity({ tableName: 'credit_transactions' })
@Index({ name: 'credit_transactions_account_keyset_index', properties: ['account', 'postingSeq'] })
@Index({ name: 'credit_transactions_account_type_index', properties: ['account', 'type', 'postingSeq'] })
// A workshop's rows, newest first (Workshop.creditTransactions pages them).
@Index({ name: 'credit_transactions_workshop_keyset_index', properties: ['workshop', 'postingSeq'] })
// Balance at a time and usage windows: effective_at is monotonic in posting order per account (see posting/postings.ts).
@Index({ name: 'credit_transactions_account_effective_index', properties: ['account', 'effectiveAt', 'postingSeq'] })
@Unique({ name: 'credit_transactions_account_idempotency_key_unique', properties: ['account', 'idempotencyKey'] })
@Unique({
  name: 'credit_transactions_workshop_charge_unique',
  properties: ['workshop'],
  where: "type = 'consumption' and feature = 'workshop' and status = 'completed'",
})
@Check({
  name: 'credit_transactions_amount_sign_check',
  expression:
    "(type in ('purchase', 'grant') and amount > 0) or (type = 'dispute_won' and amount >= 0) or (type = 'plan_change' and amount = 0) or (type in ('consumption', 'refund', 'expiration', 'dispute') and amount <= 0)",
})
@Check({ name: 'credit_transactions_balance_after_check', expression: 'balance_after >= 0' })
export class CreditTransactionEntity {
  [OptionalProps]?: 'createdAt';

  @PrimaryKey({ type: 'text' })
  id!: string;

  /** Whose balance the row changes: a user's personal account or an organization's. */
  @ManyToOne(() => AccountEntity, { deleteRule: 'no action' })
  account!: AccountEntity;

  /** Who made it happen: the member (or user) whose request wrote it, the admin of a grant or refund; null for jobs and webhooks. */
  @ManyToOne(() => UserEntity, { nullable: true, deleteRule: 'no action' })
  actor?: UserEntity | null;

  @Enum({ items: () => CreditTransactionType, type: 'text' })
  type!: CreditTransactionType;

  @Enum({ items: () => CreditTransactionStatus, type: 'text' })
  status!: CreditTransactionStatus;

  @Property({ type: 'integer' })
  amount!: number;

  @Property({ type: 'integer' })
  balanceAfter!: number;

  @Property({ type: 'text' })
  description!: string;

  @Property({ type: 'text', nullable: true })
  feature?: string | null;

  @Property({ type: 'text', nullable: true })
  idempotencyKey?: string | null;

  /** Fingerprint of the request that used `idempotencyKey`, to tell a retry from a conflicting reuse. */
  @Property({ type: 'text', nullable: true })
  requestHash?: string | null;

  @ManyToOne(() => WorkshopEntity, { nullable: true, deleteRule: 'set null' })
  workshop?: WorkshopEntity | null;

  @Property({ type: 'text', nullable: true, unique: 'credit_transactions_stripe_session_id_unique' })
  stripeSessionId?: string | null;

  @Index({ name: 'credit_transactions_stripe_payment_intent_id_index' })
  @Property({ type: 'text', nullable: true })
  stripePaymentIntentId?: string | null;

  /** For a REFUND, DISPUTE or DISPUTE_WON row: the purchase it reverses (or gives back). */
  @Index({ name: 'credit_transactions_refund_of_id_index' })
  @ManyToOne(() => CreditTransactionEntity, { nullable: true, deleteRule: 'no action' })
  refundOf?: CreditTransactionEntity | null;

  /**
   * For a reversal row: the credits it accounts for against the purchase, recovered (-amount) or not; negative on a
   * DISPUTE_WON row, which gives back a dispute's share.
   */
  @Property({ type: 'integer', nullable: true })
  creditsReversed?: number | null;

  @Property({ type: 'jsonb', nullable: true })
  metadata?: Record<string, unknown> | null;

  @Property({ type: 'bigint', autoincrement: true, unique: 'credit_transactions_posting_seq_unique' })
  postingSeq?: string;

  /** When the row took effect (became COMPLETED); null while PENDING and for FAILED rows. */
  @Property({ type: 'timestamptz', nullable: true })
  effectiveAt?: Date | null;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();
}
