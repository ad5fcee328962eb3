import { Check, Entity, Enum, Index, ManyToOne, PrimaryKey, Property, Unique } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import { EventEntity } from './event.entity.js';
import { WebhookDeliveryStatus } from './webhook-delivery-status.js';
import { WebhookEndpointEntity } from './webhook-endpoint.entity.js';

/**
 * The webhook_deliveries table: one event on its way to one endpoint, with its attempts so far. The dispatcher
 * writes at most one first delivery per (endpoint, event); `redeliverWebhookEvent` adds more rows (`redelivery`),
 * each with its own attempts, so the first one's history stays as it was. A delivery being sent is `sending` with a
 * lease: `next_attempt_at` is when the lease runs out (a crashed sender's attempt is then taken up again).
 */
@Entity({ tableName: 'webhook_deliveries' })
@Unique({ name: 'webhook_deliveries_first_unique', properties: ['endpoint', 'event'], where: 'not redelivery' })
// What the workers claim: per endpoint, the most overdue first.
@Index({ name: 'webhook_deliveries_due_index', properties: ['endpoint', 'nextAttemptAt'], where: "status in ('pending', 'sending')" })
// An endpoint's deliveries, newest first (webhookDeliveries).
@Index({ name: 'webhook_deliveries_endpoint_keyset_index', properties: ['endpoint', 'createdAt', 'id'] })
@Index({ name: 'webhook_deliveries_event_index', properties: ['event'] })
@Check({ name: 'webhook_deliveries_attempts_check', expression: 'attempts >= 0' })
@Check({
  name: 'webhook_deliveries_next_attempt_check',
  expression: "(status in ('pending', 'sending')) = (next_attempt_at is not null)",
})
export class WebhookDeliveryEntity {
  [OptionalProps]?: 'status' | 'attempts' | 'redelivery' | 'createdAt' | 'updatedAt';

  @PrimaryKey({ type: 'text' })
  id!: string;

  @ManyToOne(() => WebhookEndpointEntity, { deleteRule: 'no action' })
  endpoint!: WebhookEndpointEntity;

  @ManyToOne(() => EventEntity, { deleteRule: 'no action' })
  event!: EventEntity;

  @Enum({ items: () => WebhookDeliveryStatus, type: 'text', default: WebhookDeliveryStatus.PENDING })
  status: WebhookDeliveryStatus = WebhookDeliveryStatus.PENDING;

  @Property({ type: 'boolean', default: false })
  redelivery: boolean = false;

  /** Attempts started (a claim counts one, before it is sent). */
  @Property({ type: 'integer', default: 0 })
  attempts: number = 0;

  /** pending: when the next attempt is due; sending: when its lease runs out; null once delivered or failed. */
  @Property({ type: 'timestamptz', nullable: true })
  nextAttemptAt?: Date | null;

  @Property({ type: 'integer', nullable: true })
  lastResponseStatus?: number | null;

  /** The first 4 KiB of the last response's body. */
  @Property({ type: 'text', nullable: true })
  lastResponseBody?: string | null;

  @Property({ type: 'text', nullable: true })
  lastError?: string | null;

  @Property({ type: 'timestamptz', nullable: true })
  lastAttemptAt?: Date | null;

  @Property({ type: 'timestamptz', nullable: true })
  deliveredAt?: Date | null;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  updatedAt: Date = new Date();
}
