import { Check, Entity, Enum, Index, ManyToOne, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import { AccountEntity } from '../accounts/account.entity.js';
import { UserEntity } from '../users/user.entity.js';
import { CreditTransactionEntity } from './credit-transaction.entity.js';
import { ReservationStatus } from './reservation-status.js';

/**
 * The reservations table as the schema's source. A hold changes no balance (so it writes no ledger row): it counts
 * in `users.held_credits`, which spending and further holds may not touch. It resolves once. Rows are written by
 * the posting core alone and read into the Reservation read model.
 */
@Entity({ tableName: 'reservations' })
@Unique({ name: 'reservations_account_idempotency_key_unique', properties: ['account', 'idempotencyKey'] })
// Open holds only: by expiry for the sweeper, by account for the slow path that frees an account's lapsed holds.
@Index({ name: 'reservations_held_expiry_index', properties: ['expiresAt'], where: "status = 'held'" })
@Index({ name: 'reservations_account_held_index', properties: ['account', 'expiresAt'], where: "status = 'held'" })
// A refund or dispute can take a hold down to nothing (reversed_amount says how much it took).
@Check({ name: 'reservations_amount_check', expression: 'amount >= 0' })
@Check({ name: 'reservations_reversed_amount_check', expression: 'reversed_amount >= 0' })
@Check({
  name: 'reservations_captured_amount_check',
  expression: "(status = 'captured' and captured_amount >= 0 and captured_amount <= amount) or (status <> 'captured' and captured_amount is null)",
})
export class ReservationEntity {
  [OptionalProps]?: 'status' | 'createdAt' | 'reversedAmount';

  @PrimaryKey({ type: 'text' })
  id!: string;

  @ManyToOne(() => AccountEntity, { deleteRule: 'no action' })
  account!: AccountEntity;

  /** The user who reserved (on an organization's account, the member whose limit the hold counts against). */
  @ManyToOne(() => UserEntity, { nullable: true, deleteRule: 'no action' })
  actor?: UserEntity | null;

  @Property({ type: 'integer' })
  amount!: number;

  /** Credits a refund or dispute took from this hold (amount is what it still holds). */
  @Property({ type: 'integer', default: 0 })
  reversedAmount: number = 0;

  @Enum({ items: () => ReservationStatus, type: 'text', default: ReservationStatus.HELD })
  status: ReservationStatus = ReservationStatus.HELD;

  @Property({ type: 'text' })
  feature!: string;

  @Property({ type: 'text' })
  idempotencyKey!: string;

  @Property({ type: 'text' })
  requestHash!: string;

  @Property({ type: 'text', nullable: true })
  description?: string | null;

  @Property({ type: 'timestamptz' })
  expiresAt!: Date;

  @Property({ type: 'integer', nullable: true })
  capturedAmount?: number | null;

  /** The CONSUMPTION row of the capture. */
  @ManyToOne(() => CreditTransactionEntity, { nullable: true, deleteRule: 'no action', unique: 'reservations_transaction_id_unique' })
  transaction?: CreditTransactionEntity | null;

  @Property({ type: 'timestamptz', nullable: true })
  resolvedAt?: Date | null;

  /** Who captured or released it (null for an expiry, and for holds resolved before this was recorded). */
  @ManyToOne(() => UserEntity, { nullable: true, deleteRule: 'no action' })
  resolvedBy?: UserEntity | null;

  /** Why it was released, when someone said (an operator releasing a stuck hold must). */
  @Property({ type: 'text', nullable: true })
  resolutionReason?: string | null;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();
}
