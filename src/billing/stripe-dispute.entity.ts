import { Entity, Enum, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import { CreditTransactionEntity } from '../credits/credit-transaction.entity.js';

export enum DisputeStatus {
  OPEN = 'open',
  WON = 'won',
  LOST = 'lost',
}

/**
 * A Stripe dispute (chargeback) of a purchase, as far as its events have told us. Its state decides what its
 * events do whatever order they arrive in: a dispute already won takes nothing when its `created` comes late.
 */
@Entity({ tableName: 'stripe_disputes' })
export class StripeDisputeEntity {
  [OptionalProps]?: 'createdAt' | 'updatedAt';

  /** Stripe's dispute id (du_... or dp_...). */
  @PrimaryKey({ type: 'text' })
  id!: string;

  @Index({ name: 'stripe_disputes_purchase_id_index' })
  @ManyToOne(() => CreditTransactionEntity, { deleteRule: 'no action' })
  purchase!: CreditTransactionEntity;

  @Enum({ items: () => DisputeStatus, type: 'text' })
  status!: DisputeStatus;

  /** The disputed amount, in the charge's smallest currency unit. */
  @Property({ type: 'integer' })
  amount!: number;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  updatedAt: Date = new Date();
}
