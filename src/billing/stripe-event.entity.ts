import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/** A Stripe webhook event we have processed, so that a redelivery is a no-op. */
@Entity({ tableName: 'stripe_events' })
export class StripeEventEntity {
  /** Stripe's event id (evt_...). */
  @PrimaryKey({ type: 'text' })
  id!: string;

  @Property({ type: 'text' })
  type!: string;

  /** What processing did: credited, failed, refunded, ignored, duplicate-effect, anomaly... */
  @Property({ type: 'text' })
  outcome!: string;

  @Property({ type: 'text', nullable: true })
  detail?: string | null;

  @Property({ type: 'boolean', default: false })
  livemode: boolean = false;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  processedAt: Date = new Date();
}
