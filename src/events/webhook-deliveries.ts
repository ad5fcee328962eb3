import type { EntityManager } from '@mikro-orm/postgresql';
import { badUserInput, notFound } from '../core/errors.js';
import { prefixedId } from '../core/ids.js';
import { decodeCursor, encodeCursor, pageSize, slicePage, timestampPosition } from '../core/pagination.js';
import type { Row } from '../database/rows.js';
import { DELIVERY_ROWS, toWebhookDelivery, type WebhookDelivery, type WebhookDeliveryConnection } from './webhook-delivery.model.js';

const DELIVERY_CURSOR = 'wd';

async function requireEndpoint(em: EntityManager, endpointId: string, options: { live: boolean }): Promise<void> {
  const [row] = await em.execute<Row[]>(`select 1 from webhook_endpoints where id = ?${options.live ? ' and deleted_at is null' : ''}`, [endpointId]);
  if (!row) throw notFound('Webhook endpoint', endpointId);
}

/** An endpoint's deliveries, newest first (a deleted endpoint's too: its history stays readable). */
export async function deliveriesPage(
  em: EntityManager,
  endpointId: string,
  args: { first: number | null; after?: string | null },
): Promise<WebhookDeliveryConnection> {
  const size = pageSize(args.first);
  const [at, id] = decodeCursor(DELIVERY_CURSOR, args.after, 2) ?? [];
  if (id !== undefined && !/^msg_[a-z0-9]{1,32}$/.test(id)) throw badUserInput('after', 'is not a cursor from this list');
  await requireEndpoint(em, endpointId, { live: false });
  const rows = await em.execute<Row[]>(
    `${DELIVERY_ROWS}
     where d.endpoint_id = ? and (?::timestamptz is null or (d.created_at, d.id) < (?::timestamptz, ?::text))
     order by d.created_at desc, d.id desc limit ?`,
    [endpointId, at === undefined ? null : timestampPosition(at), at ?? null, id ?? null, size + 1],
  );
  const { items, hasNextPage } = slicePage(rows, size);
  const edges = items.map((row) => ({ node: toWebhookDelivery(row), cursor: encodeCursor(DELIVERY_CURSOR, [String(row.position_at), String(row.id)]) }));
  return { edges, pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
}

/**
 * Sends an event to an endpoint again, now, whatever became of its earlier deliveries (delivered or failed), with
 * the same webhook-id: a new delivery with its own attempts and retries, leaving the earlier ones' history as it
 * was. While a delivery of that event to that endpoint is unfinished, that one is returned instead (made due now
 * if it is waiting for a retry; an attempt under way keeps its lease), so repeated calls do not pile up sends. Any
 * event may be sent to any live endpoint, whatever its types.
 */
export async function redeliver(em: EntityManager, endpointId: string, eventId: string): Promise<WebhookDelivery> {
  return em.transactional(async (tx) => {
    await requireEndpoint(tx, endpointId, { live: true });
    const [event] = await tx.execute<Row[]>('select 1 from events where id = ?', [eventId]);
    if (!event) throw notFound('Event', eventId);
    // One redelivery decision at a time per (endpoint, event).
    await tx.execute(`select pg_advisory_xact_lock(hashtextextended('redeliver:' || ? || ':' || ?, 0))`, [endpointId, eventId]);
    const [open] = await tx.execute<Row[]>(
      `update webhook_deliveries set updated_at = now(),
         next_attempt_at = case when status = 'pending' then least(next_attempt_at, now()) else next_attempt_at end
       where id = (select id from webhook_deliveries where endpoint_id = ? and event_id = ? and status in ('pending', 'sending')
                   order by created_at desc limit 1)
       returning id`,
      [endpointId, eventId],
    );
    const deliveryId = open
      ? String(open.id)
      : String(
          (
            await tx.execute<Row[]>(
              `insert into webhook_deliveries (id, endpoint_id, event_id, status, redelivery, attempts, next_attempt_at, created_at, updated_at)
               values (?, ?, ?, 'pending', true, 0, now(), now(), now()) returning id`,
              [prefixedId('msg'), endpointId, eventId],
            )
          )[0]!.id,
        );
    const [row] = await tx.execute<Row[]>(`${DELIVERY_ROWS} where d.id = ?`, [deliveryId]);
    return toWebhookDelivery(row!);
  });
}
