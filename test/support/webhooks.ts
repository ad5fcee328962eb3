import { MikroORM } from '@mikro-orm/postgresql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import type pg from 'pg';
import { appendEvent, type AppendedEvent, type NewEvent } from '../../src/events/outbox.js';
import { ormOptions } from '../../src/orm.js';
import { CreateWebhookEndpointDocument } from '../generated/graphql.js';
import { waitUntil } from './processes.js';
import type { GraphQLResponse, TestServer } from './server.js';
import { tokenFor } from './tokens.js';
import type { WebhookReceiver } from './webhook-receiver.js';

/** Webhook endpoints, events and deliveries in tests. */

/** Appends events in one transaction of `orm`, as the code that changes balances will (outbox.ts). */
export async function appendEvents(orm: MikroORM, events: NewEvent[]): Promise<AppendedEvent[]> {
  return orm.em.fork().transactional(async (tx) => {
    const appended: AppendedEvent[] = [];
    for (const event of events) appended.push(await appendEvent(tx, event));
    return appended;
  });
}

/** A MikroORM of the test's own on a database (for appending events while no server of the test runs). */
export const ownOrm = (databaseUrl: string) => MikroORM.init(ormOptions({ clientUrl: databaseUrl, poolMax: 2 }));

/** A GraphQL request as `subject` to a server known only by its URL (a spawned API). */
export async function graphqlAt<TData, TVariables>(
  url: string,
  subject: string,
  document: TypedDocumentNode<TData, TVariables>,
  variables?: TVariables,
): Promise<GraphQLResponse<TData>> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor(subject)}` },
    body: JSON.stringify({ query: print(document), variables: variables ?? {} }),
  });
  return { ...((await response.json()) as object), status: response.status } as GraphQLResponse<TData>;
}

/** Creates an endpoint for `receiver` through the API (as an admin) and teaches the receiver its secret. */
export async function endpointFor(
  server: Pick<TestServer, 'url'>,
  admin: string,
  receiver: WebhookReceiver,
  eventTypes: string[],
  path = '/hooks',
): Promise<{ id: string; secret: string }> {
  const res = await graphqlAt(server.url, admin, CreateWebhookEndpointDocument, { input: { url: `${receiver.url}${path}`, eventTypes } });
  const endpoint = res.data?.createWebhookEndpoint;
  if (!endpoint) throw new Error(`createWebhookEndpoint failed: ${JSON.stringify(res.errors)}`);
  receiver.secrets.push(endpoint.secret);
  return { id: endpoint.id, secret: endpoint.secret };
}

export interface DeliveryRow {
  id: string;
  endpoint_id: string;
  event_id: string;
  status: string;
  redelivery: boolean;
  attempts: number;
  next_attempt_at: Date | null;
  last_response_status: number | null;
  last_response_body: string | null;
  last_error: string | null;
}

export async function deliveryRows(sql: pg.Pool, where: { endpointId?: string; eventId?: string }): Promise<DeliveryRow[]> {
  const { rows } = await sql.query<DeliveryRow>(
    `select * from webhook_deliveries where ($1::text is null or endpoint_id = $1) and ($2::text is null or event_id = $2) order by created_at, id`,
    [where.endpointId ?? null, where.eventId ?? null],
  );
  return rows;
}

/** Waits until the delivery of `eventId` to `endpointId` (the first one) has `status`, and returns it. */
export function deliveryWithStatus(sql: pg.Pool, endpointId: string, eventId: string, status: string, timeoutMs = 20_000): Promise<DeliveryRow> {
  return waitUntil(
    async () => (await deliveryRows(sql, { endpointId, eventId })).find((row) => !row.redelivery && row.status === status),
    { timeoutMs, what: `delivery of ${eventId} to ${endpointId} to be ${status}`, intervalMs: 25 },
  );
}

/** Waits until `receiver` has had `count` requests matching `predicate`. */
export function receivedCount(receiver: WebhookReceiver, count: number, predicate: (id: string) => boolean = () => true, timeoutMs = 20_000) {
  return waitUntil(async () => receiver.received.filter((request) => predicate(request.id)).length >= count, {
    timeoutMs,
    what: `${count} webhook requests`,
    intervalMs: 20,
  });
}
