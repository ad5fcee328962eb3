import type { EntityManager } from '@mikro-orm/postgresql';
import { namedStatement } from '../database/named-statement.js';
import type { Row } from '../database/rows.js';
import { retryDelayMs } from './retry-schedule.js';
import type { SendOutcome } from './webhook-client.js';

/**
 * Claiming and settling delivery attempts. A claim is one committed statement that takes due deliveries with
 * FOR UPDATE SKIP LOCKED and leases them (status `sending`, `next_attempt_at` = the lease's end) before anything
 * is sent: another instance neither sees them as due nor waits for them until the lease runs out, so no attempt is
 * sent twice at once. The attempt's number (`attempts`, counted at the claim) fences the result: a sender whose
 * lease ran out and whose delivery was claimed again cannot overwrite the newer attempt's outcome.
 */

interface ClaimParams {
  /** Deliveries this instance can start now. */
  limit: number;
  /** Attempts in flight per endpoint, counting other instances' live leases. */
  perEndpoint: number;
  leaseMs: number;
}

/**
 * Per enabled endpoint, its most overdue deliveries up to what its in-flight cap leaves (so one slow or dead endpoint
 * never takes every slot), then the most overdue of those overall.
 */
const CLAIM = namedStatement<ClaimParams>(`
with candidates as (
  select due.id
  from webhook_endpoints e
  cross join lateral (
    select d.id, d.next_attempt_at from webhook_deliveries d
    where d.endpoint_id = e.id and d.status in ('pending', 'sending') and d.next_attempt_at <= now()
    order by d.next_attempt_at
    limit greatest(0, :perEndpoint - (select count(*) from webhook_deliveries s
      where s.endpoint_id = e.id and s.status = 'sending' and s.next_attempt_at > now()))
  ) due
  where e.enabled and e.deleted_at is null
),
claimed as (
  select d.id from webhook_deliveries d
  where d.id in (select id from candidates) and d.status in ('pending', 'sending') and d.next_attempt_at <= now()
  order by d.next_attempt_at
  limit :limit
  for update of d skip locked
)
update webhook_deliveries d
set status = 'sending', attempts = d.attempts + 1, next_attempt_at = now() + :leaseMs::float8 * interval '1 millisecond',
  last_attempt_at = now(), updated_at = now()
from claimed, webhook_endpoints e, events ev
where d.id = claimed.id and e.id = d.endpoint_id and ev.id = d.event_id
returning d.id, d.attempts, d.endpoint_id, e.url, e.secret, e.previous_secret,
  coalesce(e.previous_secret_expires_at > now(), false) as previous_secret_valid,
  ev.id as event_id, ev.account_id, ev.seq, ev.type, ev.payload, ev.created_at`);

/** A leased attempt: the delivery, its endpoint's URL and secrets, and its event's row. */
export interface ClaimedAttempt {
  deliveryId: string;
  attempt: number;
  endpointId: string;
  url: string;
  /** The secrets that sign: the current one, and the previous one during its grace period. */
  secrets: string[];
  event: Row;
}

export async function claimDueAttempts(em: EntityManager, params: ClaimParams): Promise<ClaimedAttempt[]> {
  const rows = await em.execute<Row[]>(CLAIM.text, CLAIM.bind(params));
  return rows.map((row) => ({
    deliveryId: String(row.id),
    attempt: Number(row.attempts),
    endpointId: String(row.endpoint_id),
    url: String(row.url),
    secrets: [row.secret, row.previous_secret_valid ? row.previous_secret : null].filter((secret): secret is string => typeof secret === 'string'),
    event: { id: row.event_id, account_id: row.account_id, seq: row.seq, type: row.type, payload: row.payload, created_at: row.created_at },
  }));
}

interface SettleParams {
  id: string;
  attempt: number;
  status: 'delivered' | 'pending' | 'failed';
  delayMs: number | null;
  responseStatus: number | null;
  responseBody: string | null;
  error: string | null;
}

const SETTLE = namedStatement<SettleParams>(`
update webhook_deliveries set status = :status::text,
  next_attempt_at = case when :status::text = 'pending' then now() + :delayMs::float8 * interval '1 millisecond' end,
  delivered_at = case when :status::text = 'delivered' then now() end,
  last_response_status = :responseStatus::int, last_response_body = :responseBody::text, last_error = :error::text, updated_at = now()
where id = :id and status = 'sending' and attempts = :attempt
returning status`);

/**
 * Records an attempt's outcome: delivered, due again after the schedule's next delay, or failed after the last.
 * Returns the new status, or undefined when the lease had been lost (the outcome is then dropped).
 */
export async function settleAttempt(em: EntityManager, claimed: ClaimedAttempt, outcome: SendOutcome, retryBaseMs: number): Promise<string | undefined> {
  const delayMs = outcome.ok ? undefined : retryDelayMs(claimed.attempt, retryBaseMs);
  const status = outcome.ok ? 'delivered' : delayMs === undefined ? 'failed' : 'pending';
  const [row] = await em.execute<Row[]>(
    SETTLE.text,
    SETTLE.bind({
      id: claimed.deliveryId,
      attempt: claimed.attempt,
      status,
      delayMs: delayMs ?? null,
      responseStatus: outcome.status,
      responseBody: outcome.body,
      error: outcome.error === null ? null : outcome.error.slice(0, 500),
    }),
  );
  return row === undefined ? undefined : String(row.status);
}
