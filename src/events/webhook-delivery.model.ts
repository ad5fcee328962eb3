import { GraphQLJSON } from 'graphql-scalars';
import { Field, Float, ID, Int, ObjectType } from 'type-graphql';
import { Cost, ListSize, textCost } from '../core/cost.js';
import { DateTimeScalar, type PgTimestamp } from '../core/date-time.js';
import { PageInfo } from '../core/pagination.js';
import type { Row } from '../database/rows.js';
import { MAX_EVENT_PAYLOAD_BYTES } from './outbox.js';
import { MAX_RESPONSE_BODY_BYTES } from './webhook-client.js';
import { WebhookDeliveryStatus } from './webhook-delivery-status.js';


@ObjectType('WebhookEvent', { description: 'An event as delivered: the body of its webhook is { id, type, accountId, sequence, createdAt, data }.' })
export class WebhookEvent {
  @Field(() => ID, { description: 'evt_...: the webhook-id header of every attempt.' })
  id!: string;

  @Field(() => String)
  type!: string;

  @Field(() => ID)
  accountId!: string;

  @Field(() => Float, { description: "The account's event number (a whole number): 1, 2, 3... in the order the changes took effect." })
  sequence!: number;

  @Cost(Math.ceil(MAX_EVENT_PAYLOAD_BYTES / 100))
  @Field(() => GraphQLJSON)
  data!: Record<string, unknown>;

  @Field(() => DateTimeScalar)
  createdAt!: PgTimestamp;
}

@ObjectType('WebhookDelivery', { description: 'One event on its way to one endpoint, with its attempts.' })
export class WebhookDelivery {
  @Field(() => ID, { description: 'msg_...' })
  id!: string;

  @Field(() => ID)
  endpointId!: string;

  @Field(() => WebhookDeliveryStatus)
  status!: WebhookDeliveryStatus;

  @Field(() => Boolean, { description: 'Queued by redeliverWebhookEvent rather than by the event itself.' })
  redelivery!: boolean;

  @Field(() => Int, { description: 'Attempts started so far.' })
  attemptCount!: number;

  @Field(() => Int, { nullable: true, description: "The last attempt's HTTP status; null when no response came." })
  lastResponseCode!: number | null;

  @Cost(textCost(MAX_RESPONSE_BODY_BYTES))
  @Field(() => String, { nullable: true, description: `The first ${MAX_RESPONSE_BODY_BYTES} bytes of the last response's body.` })
  lastResponseBody!: string | null;

  @Cost(textCost(500))
  @Field(() => String, { nullable: true, description: 'Why the last attempt failed (a status, a timeout, a refused address...).' })
  lastError!: string | null;

  @Field(() => DateTimeScalar, { nullable: true, description: 'PENDING: when the next attempt is due. SENDING: when its lease runs out. Otherwise null.' })
  nextAttemptAt!: PgTimestamp | null;

  @Field(() => DateTimeScalar, { nullable: true })
  lastAttemptAt!: PgTimestamp | null;

  @Field(() => WebhookEvent)
  event!: WebhookEvent;

  @Field(() => DateTimeScalar)
  createdAt!: PgTimestamp;

  @Field(() => DateTimeScalar, { nullable: true })
  deliveredAt!: PgTimestamp | null;
}

@ObjectType()
export class WebhookDeliveryEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => WebhookDelivery)
  node!: WebhookDelivery;
}

@ObjectType()
export class WebhookDeliveryConnection {
  @ListSize(1)
  @Field(() => [WebhookDeliveryEdge])
  edges!: WebhookDeliveryEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

/** A delivery and its event's columns (prefixed event_), as DELIVERY_ROWS selects them. */
export const DELIVERY_ROWS = `select d.*, d.created_at::text as position_at, ev.account_id as event_account_id, ev.seq as event_seq,
    ev.type as event_type, ev.payload as event_payload, ev.created_at as event_created_at
  from webhook_deliveries d join events ev on ev.id = d.event_id`;

const nullableText = (value: unknown) => (value === null || value === undefined ? null : String(value));

export const toWebhookDelivery = (row: Row): WebhookDelivery => ({
  id: String(row.id),
  endpointId: String(row.endpoint_id),
  status: row.status as WebhookDeliveryStatus,
  redelivery: Boolean(row.redelivery),
  attemptCount: Number(row.attempts),
  lastResponseCode: row.last_response_status === null ? null : Number(row.last_response_status),
  lastResponseBody: nullableText(row.last_response_body),
  lastError: nullableText(row.last_error),
  nextAttemptAt: nullableText(row.next_attempt_at),
  lastAttemptAt: nullableText(row.last_attempt_at),
  event: {
    id: String(row.event_id),
    type: String(row.event_type),
    accountId: String(row.event_account_id),
    sequence: Number(row.event_seq),
    data: row.event_payload as Record<string, unknown>,
    createdAt: String(row.event_created_at),
  },
  createdAt: String(row.created_at),
  deliveredAt: nullableText(row.delivered_at),
});
