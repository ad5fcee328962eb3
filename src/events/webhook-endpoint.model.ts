import { Field, ID, ObjectType } from 'type-graphql';
import { Cost, ListSize, textCost } from '../core/cost.js';
import { DateTimeScalar, type PgTimestamp } from '../core/date-time.js';
import type { Row } from '../database/rows.js';
import { EVENT_TYPES } from './event-types.js';

export const MAX_URL_LENGTH = 2048;
export const MAX_DESCRIPTION_LENGTH = 500;

/** The WebhookEndpoint GraphQL type: a read model of a webhook_endpoints row, without its secrets. */
@ObjectType('WebhookEndpoint', { description: 'Where Tally delivers events, signed per Standard Webhooks.' })
export class WebhookEndpoint {
  @Field(() => ID, { description: 'we_...' })
  id!: string;

  @Cost(textCost(MAX_URL_LENGTH))
  @Field(() => String)
  url!: string;

  @ListSize(EVENT_TYPES.length + 1)
  @Field(() => [String], { description: 'Event types delivered here; "*" for every type.' })
  eventTypes!: string[];

  @Cost(textCost(MAX_DESCRIPTION_LENGTH))
  @Field(() => String, { nullable: true })
  description!: string | null;

  @Field(() => Boolean, { description: 'A disabled endpoint gets no new deliveries, and its pending ones wait until it is enabled again.' })
  enabled!: boolean;

  @Field(() => DateTimeScalar, { nullable: true, description: 'Until then, the secret before the last rotation also signs (a second v1 signature).' })
  previousSecretExpiresAt!: PgTimestamp | null;

  @Field(() => DateTimeScalar)
  createdAt!: PgTimestamp;

  @Field(() => DateTimeScalar)
  updatedAt!: PgTimestamp;
}

@ObjectType('WebhookEndpointWithSecret', { description: 'An endpoint with its signing secret: shown only when it is created or its secret rotated.' })
export class WebhookEndpointWithSecret extends WebhookEndpoint {
  @Field(() => String, { description: 'whsec_ and base64: give it as is to a Standard Webhooks verifier.' })
  secret!: string;
}

const nullableText = (value: unknown) => (value === null || value === undefined ? null : String(value));

export const toWebhookEndpoint = (row: Row): WebhookEndpoint => ({
  id: String(row.id),
  url: String(row.url),
  eventTypes: row.event_types as string[],
  description: nullableText(row.description),
  enabled: Boolean(row.enabled),
  previousSecretExpiresAt: nullableText(row.previous_secret_expires_at),
  createdAt: String(row.created_at),
  updatedAt: String(row.updated_at),
});

export const toWebhookEndpointWithSecret = (row: Row): WebhookEndpointWithSecret => ({ ...toWebhookEndpoint(row), secret: String(row.secret) });
