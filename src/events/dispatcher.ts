import type { EntityManager } from '@mikro-orm/postgresql';
import { prefixedId } from '../core/ids.js';
import { pgTextArray, type Row } from '../database/rows.js';
import { wantsEvent } from './event-types.js';
import { announcements, LIVE_CHANNEL } from './live-events.js';

/**
 * The dispatcher: turns committed events into deliveries. One transaction claims the oldest undispatched events
 * with FOR UPDATE SKIP LOCKED (so instances running it at once take different events and never wait on each
 * other), writes one pending delivery per enabled endpoint subscribed to the event's type, and marks the events
 * dispatched, and announces them for live updates (NOTIFY, delivered at commit). The unique (endpoint, event) index of first deliveries makes a repeat harmless. An event is matched
 * against the endpoints that exist when it is dispatched: an endpoint created later does not receive older events,
 * and a disabled one misses those dispatched while it is disabled.
 */
export async function dispatchEvents(em: EntityManager, batchSize: number): Promise<number> {
  return em.transactional(async (tx) => {
    const events = await tx.execute<Row[]>(
      'select id, type, account_id, seq from events where dispatched_at is null order by created_at limit ? for update skip locked',
      [batchSize],
    );
    if (events.length === 0) return 0;
    const endpoints = await tx.execute<Row[]>('select id, event_types from webhook_endpoints where enabled and deleted_at is null');
    const ids: string[] = [];
    const endpointIds: string[] = [];
    const eventIds: string[] = [];
    for (const event of events) {
      for (const endpoint of endpoints) {
        if (!wantsEvent(endpoint.event_types as string[], String(event.type))) continue;
        ids.push(prefixedId('msg'));
        endpointIds.push(String(endpoint.id));
        eventIds.push(String(event.id));
      }
    }
    if (ids.length > 0) {
      await tx.execute(
        `insert into webhook_deliveries (id, endpoint_id, event_id, status, attempts, next_attempt_at, created_at, updated_at)
         select id, endpoint_id, event_id, 'pending', 0, now(), now(), now()
         from unnest(?::text[], ?::text[], ?::text[]) as fanned (id, endpoint_id, event_id)
         on conflict (endpoint_id, event_id) where not redelivery do nothing`,
        [pgTextArray(ids), pgTextArray(endpointIds), pgTextArray(eventIds)],
      );
    }
    await tx.execute('update events set dispatched_at = now() where id = any(?::text[])', [pgTextArray(events.map((event) => String(event.id)))]);
    // Live updates on every instance (live-events.ts): announced with this transaction's commit, so never before it.
    for (const payload of announcements(events.map((event) => [String(event.account_id), String(event.seq)]))) {
      await tx.execute('select pg_notify(?, ?)', [LIVE_CHANNEL, payload]);
    }
    return events.length;
  });
}
