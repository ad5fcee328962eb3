import type { EntityManager } from '@mikro-orm/postgresql';
import { limitExceeded, notFound } from '../core/errors.js';
import { prefixedId } from '../core/ids.js';
import { pgTextArray, type Row } from '../database/rows.js';
import { newSigningSecret } from './signing.js';
import { toWebhookEndpoint, toWebhookEndpointWithSecret, type WebhookEndpoint, type WebhookEndpointWithSecret } from './webhook-endpoint.model.js';

/** At most this many endpoints (not deleted): what webhookEndpoints lists, whole, and what each event fans out to. */
export const MAX_WEBHOOK_ENDPOINTS = 50;

/** How long the secret before a rotation keeps signing, so receivers can switch without dropping a delivery. */
export const ROTATION_GRACE_HOURS = 24;

const LIVE = 'deleted_at is null';

/** Serializes endpoint creation while endpoints are counted against the cap. */
const lockEndpoints = (em: EntityManager) => em.execute(`select pg_advisory_xact_lock(hashtextextended('webhook_endpoints', 0))`);

export async function listEndpoints(em: EntityManager): Promise<WebhookEndpoint[]> {
  const rows = await em.execute<Row[]>(`select * from webhook_endpoints where ${LIVE} order by created_at, id limit ?`, [MAX_WEBHOOK_ENDPOINTS]);
  return rows.map(toWebhookEndpoint);
}

export interface NewEndpoint {
  url: string;
  eventTypes: string[];
  description: string | null;
}

export async function createEndpoint(em: EntityManager, endpoint: NewEndpoint): Promise<WebhookEndpointWithSecret> {
  return em.transactional(async (tx) => {
    await lockEndpoints(tx);
    const [count] = await tx.execute<{ n: number }[]>(`select count(*)::int as n from webhook_endpoints where ${LIVE}`);
    if ((count?.n ?? 0) >= MAX_WEBHOOK_ENDPOINTS) throw limitExceeded('webhook endpoints', MAX_WEBHOOK_ENDPOINTS);
    const [row] = await tx.execute<Row[]>(
      `insert into webhook_endpoints (id, url, event_types, description, secret, enabled, created_at, updated_at)
       values (?, ?, ?::text[], ?, ?, true, now(), now()) returning *`,
      [prefixedId('we'), endpoint.url, pgTextArray(endpoint.eventTypes), endpoint.description, newSigningSecret()],
    );
    return toWebhookEndpointWithSecret(row!);
  });
}

export interface EndpointChange {
  id: string;
  url?: string;
  eventTypes?: string[];
  /** undefined: unchanged; null: removed. */
  description?: string | null;
  enabled?: boolean;
}

export async function updateEndpoint(em: EntityManager, change: EndpointChange): Promise<WebhookEndpoint> {
  const [row] = await em.execute<Row[]>(
    `update webhook_endpoints set
       url = coalesce(?, url),
       event_types = coalesce(?::text[], event_types),
       description = case when ?::boolean then ? else description end,
       enabled = coalesce(?::boolean, enabled),
       updated_at = now()
     where id = ? and ${LIVE} returning *`,
    [
      change.url ?? null,
      change.eventTypes === undefined ? null : pgTextArray(change.eventTypes),
      change.description !== undefined,
      change.description ?? null,
      change.enabled ?? null,
      change.id,
    ],
  );
  if (!row) throw notFound('Webhook endpoint', change.id);
  return toWebhookEndpoint(row);
}

/**
 * Deletes an endpoint: it gets nothing more, its secrets are forgotten, and its unfinished deliveries are marked
 * failed. The row stays (without secrets) so that its deliveries keep their history.
 */
export async function deleteEndpoint(em: EntityManager, id: string): Promise<boolean> {
  return em.transactional(async (tx) => {
    const [row] = await tx.execute<Row[]>(
      `update webhook_endpoints set deleted_at = now(), enabled = false, secret = null, previous_secret = null,
         previous_secret_expires_at = null, updated_at = now()
       where id = ? and ${LIVE} returning id`,
      [id],
    );
    if (!row) throw notFound('Webhook endpoint', id);
    await tx.execute(
      `update webhook_deliveries set status = 'failed', next_attempt_at = null, last_error = 'endpoint deleted', updated_at = now()
       where endpoint_id = ? and status in ('pending', 'sending')`,
      [id],
    );
    return true;
  });
}

/**
 * A new signing secret. The one it replaces keeps signing for ROTATION_GRACE_HOURS (each attempt then carries two
 * signatures); a secret replaced earlier stops at once.
 */
export async function rotateSecret(em: EntityManager, id: string): Promise<WebhookEndpointWithSecret> {
  const [row] = await em.execute<Row[]>(
    `update webhook_endpoints set previous_secret = secret, previous_secret_expires_at = now() + ? * interval '1 hour',
       secret = ?, updated_at = now()
     where id = ? and ${LIVE} returning *`,
    [ROTATION_GRACE_HOURS, newSigningSecret(), id],
  );
  if (!row) throw notFound('Webhook endpoint', id);
  return toWebhookEndpointWithSecret(row);
}
