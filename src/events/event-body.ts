import { pgTimestamp } from '../core/date-time.js';
import type { Row } from '../database/rows.js';

/** What an endpoint receives as the request body (JSON), for every event type. */
export interface WebhookBody {
  /** evt_...: also the `webhook-id` header, the same on every attempt and redelivery (de-duplicate on it). */
  id: string;
  type: string;
  /** The account the event is about: a user's personal account (usr_...) or an organization's (org_...). */
  accountId: string;
  /** The account's event number: 1, 2, 3... in the order the changes took effect on that account. */
  sequence: number;
  /** ISO-8601, when the event was recorded. */
  createdAt: string;
  data: Record<string, unknown>;
}

/** The body of an event row (its id, account_id, seq, type, payload and created_at, as the driver returns them). */
export const webhookBody = (event: Row): WebhookBody => ({
  id: String(event.id),
  type: String(event.type),
  accountId: String(event.account_id),
  sequence: Number(event.seq),
  createdAt: pgTimestamp(String(event.created_at)).toISOString(),
  data: event.payload as Record<string, unknown>,
});
