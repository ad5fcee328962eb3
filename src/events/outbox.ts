import type { EntityManager } from '@mikro-orm/postgresql';
import { prefixedId } from '../core/ids.js';
import { namedStatement } from '../database/named-statement.js';
import type { Row } from '../database/rows.js';
import type { EventType } from './event-types.js';

/**
 * The outbox: an event is appended by the transaction whose change it reports, so it commits (or rolls back) with
 * that change, and the webhook workers deliver it afterwards (dispatcher.ts). Each account's events are numbered
 * 1, 2, 3... by `accounts.event_seq`: taking the next number updates the account's row, so it waits for (and
 * orders after) any other transaction holding that row's lock, like the posting core's balance changes do.
 *
 * Payload convention: an object describing the change, for ledger events
 * `{ transaction: <the CreditTransaction as the GraphQL type shows it>, balanceAfter, ... }`. Receivers get it as
 * `data` in the body built by event-body.ts: `{ id, type, accountId, sequence, createdAt, data }`.
 */

/**
 * The most an event's payload may take as JSON. A ledger row with its 4 KiB of metadata and its texts fits with room
 * to spare; the GraphQL cost of WebhookEvent.data counts on it.
 */
export const MAX_EVENT_PAYLOAD_BYTES = 16 * 1024;

/** The SET clause that takes an account's next event number; pair it with `returning id, event_seq`. */
export const EVENT_SEQ_BUMP = 'event_seq = event_seq + 1';

export interface EventInsertParams {
  /** evt_... (prefixedId('evt')). */
  eventId: string;
  eventType: EventType;
}

/**
 * The insert of one event row numbered by a CTE named `numbered` that updated the account with EVENT_SEQ_BUMP and
 * returned its `id` and `event_seq`. A statement that already updates the account (a posting) appends its event in
 * that same statement this way, instead of updating the row twice (which one statement cannot do). Parameters:
 * `:eventId`, `:eventType` and, unless `payload` gives an SQL expression instead (e.g. a `jsonb_build_object(...)`
 * over the row the statement wrote), `:eventPayload` (JSON text). `from` names every CTE the payload reads
 * (`numbered` alone by default). Usable as the statement's last part or as a CTE of its own.
 */
export const insertEventFrom = (numbered: string, options: { payload?: string; from?: string } = {}) => `
insert into events (id, account_id, seq, type, payload, created_at)
select :eventId, ${numbered}.id, ${numbered}.event_seq, :eventType, ${options.payload ?? ':eventPayload::jsonb'}, clock_timestamp()
from ${options.from ?? numbered}
returning id, seq`;

export interface AppendEventParams extends EventInsertParams {
  accountId: string;
  /** JSON text. */
  eventPayload: string;
}

/** The next number of the account and the event row, in one statement. No row comes back for an unknown account. */
export const APPEND_EVENT = namedStatement<AppendEventParams>(`
with numbered as (
  update accounts set ${EVENT_SEQ_BUMP} where id = :accountId
  returning id, event_seq
)${insertEventFrom('numbered')}`);

export interface NewEvent {
  accountId: string;
  type: EventType;
  payload: Record<string, unknown>;
}

export interface AppendedEvent {
  id: string;
  /** The account's event number, as text (a bigint). */
  seq: string;
}

/**
 * Appends an event inside the caller's transaction (`em` is the transaction's EntityManager; outside one the event
 * commits on its own). Takes the account's row lock until that transaction ends.
 */
export async function appendEvent(em: EntityManager, event: NewEvent): Promise<AppendedEvent> {
  const eventPayload = JSON.stringify(event.payload);
  if (Buffer.byteLength(eventPayload) > MAX_EVENT_PAYLOAD_BYTES) throw new Error(`${event.type} payload is over ${MAX_EVENT_PAYLOAD_BYTES} bytes`);
  const params: AppendEventParams = { eventId: prefixedId('evt'), accountId: event.accountId, eventType: event.type, eventPayload };
  const [row] = await em.execute<Row[]>(APPEND_EVENT.text, APPEND_EVENT.bind(params));
  if (!row) throw new Error(`cannot append ${event.type}: account ${event.accountId} does not exist`);
  return { id: String(row.id), seq: String(row.seq) };
}
