import { Check, Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';

/**
 * The webhook_endpoints table: where events are delivered. The signing secret is kept as issued (whsec_ + base64) so
 * that each attempt can be signed; after a rotation the previous secret also signs until `previous_secret_expires_at`.
 * A deleted endpoint keeps its row (its deliveries still name it) with `deleted_at` set and no secrets.
 */
@Entity({ tableName: 'webhook_endpoints' })
@Check({ name: 'webhook_endpoints_event_types_check', expression: 'cardinality(event_types) >= 1' })
export class WebhookEndpointEntity {
  [OptionalProps]?: 'enabled' | 'createdAt' | 'updatedAt';

  @PrimaryKey({ type: 'text' })
  id!: string;

  @Property({ type: 'text' })
  url!: string;

  /** Event types delivered here; `*` for all. */
  @Property({ type: 'text[]' })
  eventTypes!: string[];

  @Property({ type: 'text', nullable: true })
  description?: string | null;

  /** Null once deleted. */
  @Property({ type: 'text', nullable: true })
  secret?: string | null;

  @Property({ type: 'text', nullable: true })
  previousSecret?: string | null;

  @Property({ type: 'timestamptz', nullable: true })
  previousSecretExpiresAt?: Date | null;

  @Property({ type: 'boolean', default: true })
  enabled: boolean = true;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  updatedAt: Date = new Date();

  @Property({ type: 'timestamptz', nullable: true })
  deletedAt?: Date | null;
}
