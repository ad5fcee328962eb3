import type { EntityManager } from '@mikro-orm/postgresql';
import { prefixedId } from '../core/ids.js';
import { pgTextArray, type Row } from '../database/rows.js';
import { ALL_EVENT_TYPES } from './event-types.js';
import { announcements, LIVE_CHANNEL } from './live-events.js';

/**
 * The dispatcher: turns committed events into deliveries. One transaction claims the oldest undispatched events
 * with FOR UPDATE SKIP LOCKED (so instances running it at once take different events and never wait on each
 * other), writes one pending delivery per enabled endpoint subscribed to the event's type, and marks the events
 * dispatched, and announces them for live updates (NOTIFY, delivered at commit): four round trips with the
 * transaction's begin and commit, however many events and endpoints. The unique (endpoint, event) index of first
 * deliveries makes a repeat harmless. An event is matched against the endpoints that exist when it is dispatched: an
 * endpoint created later does not receive older events, and a disabled one misses those dispatched while it is
 * disabled.
 */
export async function dispatchEvents(em: EntityManager, batchSize: number): Promise<number> {
  return em.transactional(async (tx) => {
    // The oldest undispatched events, each with the enabled endpoints subscribed to its type (or to every type).
    const events = await tx.execute<Row[]>(
      `select ev.id, ev.account_id, ev.seq, array(
         select w.id from webhook_endpoints w
         where w.enabled and w.deleted_at is null and w.event_types && array[?::text, ev.type]
         order by w.id) as endpoint_ids
       from (select id, type, account_id, seq from events where dispatched_at is null order by created_at limit ? for update skip locked) ev`,
      [ALL_EVENT_TYPES, batchSize],
    );
    if (events.length === 0) return 0;
    const ids: string[] = [];
    const endpointIds: string[] = [];
    const eventIds: string[] = [];
    for (const event of events) {
      for (const endpointId of event.endpoint_ids as string[]) {
        ids.push(prefixedId('msg'));
        endpointIds.push(endpointId);
        eventIds.push(String(event.id));
      }
    }
    // The deliveries, the events marked dispatched, and the live announcements (NOTIFY, delivered at commit, so
    // never before it: live-events.ts), in one statement.
    await tx.execute(
      `with fanned as (
         insert into webhook_deliveries (id, endpoint_id, event_id, status, attempts, next_attempt_at, created_at, updated_at)
         select id, endpoint_id, event_id, 'pending', 0, now(), now(), now()
         from unnest(?::text[], ?::text[], ?::text[]) as fanned (id, endpoint_id, event_id)
         on conflict (endpoint_id, event_id) where not redelivery do nothing
       ), marked as (
         update events set dispatched_at = now() where id = any(?::text[])
       )
       select pg_notify(?, payload) from unnest(?::text[]) as payload`,
      [
        pgTextArray(ids),
        pgTextArray(endpointIds),
        pgTextArray(eventIds),
        pgTextArray(events.map((event) => String(event.id))),
        LIVE_CHANNEL,
        pgTextArray(announcements(events.map((event) => [String(event.account_id), String(event.seq)]))),
      ],
    );
    return events.length;
  });
}
