import { Check, Entity, Enum, Index, ManyToOne, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { prefixedId } from '../database/ids.js';
import { User } from '../users/user.entity.js';
import { CreditTransaction } from './credit-transaction.entity.js';

export enum ReservationStatus {
  HELD = 'held',
  CAPTURED = 'captured',
  RELEASED = 'released',
  EXPIRED = 'expired',
}
registerEnumType(ReservationStatus, {
  name: 'ReservationStatus',
  valuesConfig: {
    HELD: { description: 'Credits are set aside; capture or release it before expiresAt.' },
    CAPTURED: { description: 'Charged: capturedAmount left the balance as one CONSUMPTION row, the rest was freed.' },
    RELEASED: { description: 'Freed without a charge.' },
    EXPIRED: { description: 'Not resolved before expiresAt; freed without a charge.' },
  },
});

/**
 * Credits set aside for work whose cost is known only at the end. A hold changes no balance (so it writes no ledger
 * row): it counts in `users.held_credits`, which spending and further holds may not touch. It resolves once.
 */
@ObjectType({ description: 'Credits held for work whose cost is known only at the end; captured, released or expired once.' })
@Entity({ tableName: 'reservations' })
@Unique({ name: 'reservations_user_idempotency_key_unique', properties: ['user', 'idempotencyKey'] })
// Open holds only: by expiry for the sweeper, by user for the slow path that frees a user's lapsed holds.
@Index({ name: 'reservations_held_expiry_index', properties: ['expiresAt'], where: "status = 'held'" })
@Index({ name: 'reservations_user_held_index', properties: ['user', 'expiresAt'], where: "status = 'held'" })
@Check({ name: 'reservations_amount_check', expression: 'amount > 0' })
@Check({
  name: 'reservations_captured_amount_check',
  expression: "(status = 'captured' and captured_amount >= 0 and captured_amount <= amount) or (status <> 'captured' and captured_amount is null)",
})
export class Reservation {
  [OptionalProps]?: 'id' | 'status' | 'createdAt';

  @Field(() => ID)
  @PrimaryKey({ type: 'text' })
  id: string = prefixedId('rsv');

  @ManyToOne(() => User, { deleteRule: 'no action' })
  user!: User;

  @Field(() => Int)
  @Property({ type: 'integer' })
  amount!: number;

  @Field(() => ReservationStatus)
  @Enum({ items: () => ReservationStatus, type: 'text', default: ReservationStatus.HELD })
  status: ReservationStatus = ReservationStatus.HELD;

  @Field(() => String, { description: 'The feature the capture is charged under.' })
  @Property({ type: 'text' })
  feature!: string;

  @Field(() => String)
  @Property({ type: 'text' })
  idempotencyKey!: string;

  /** Fingerprint of the request that used `idempotencyKey`, to tell a retry from a conflicting reuse. */
  @Property({ type: 'text' })
  requestHash!: string;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  description?: string | null;

  @Field(() => Date, { description: 'When an unresolved hold lapses and its credits are freed.' })
  @Property({ type: 'timestamptz' })
  expiresAt!: Date;

  @Field(() => Int, { nullable: true, description: 'What the capture charged; null unless CAPTURED.' })
  @Property({ type: 'integer', nullable: true })
  capturedAmount?: number | null;

  /** The CONSUMPTION row of the capture. */
  @ManyToOne(() => CreditTransaction, {
    nullable: true,
    deleteRule: 'no action',
    unique: 'reservations_transaction_id_unique',
  })
  transaction?: CreditTransaction | null;

  @Field(() => Date, { nullable: true, description: 'When it was captured, released or expired.' })
  @Property({ type: 'timestamptz', nullable: true })
  resolvedAt?: Date | null;

  @Field(() => Date)
  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();
}
