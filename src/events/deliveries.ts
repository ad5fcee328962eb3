import type { EntityManager } from '@mikro-orm/postgresql';
import { namedStatement } from '../database/named-statement.js';
import type { Row } from '../database/rows.js';
import { nextDelayMs, retryDelayMs } from './retry-schedule.js';
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
 * never takes every slot), then the most overdue of those overall. The candidates are computed once (materialized)
 * and joined by id: with statistics from when the table was small, the planner otherwise re-ran them for every due
 * row, which made each claim cost as much as the backlog was long (100 ms behind 5,000 waiting deliveries).
 */
const CLAIM = namedStatement<ClaimParams>(`
with candidates as materialized (
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
  select d.id from candidates c join webhook_deliveries d on d.id = c.id
  where d.status in ('pending', 'sending') and d.next_attempt_at <= now()
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

/** An attempt's outcome, to be recorded. */
export interface Settlement {
  claimed: ClaimedAttempt;
  outcome: SendOutcome;
}

/**
 * Many outcomes in one statement (one commit): under a steady stream of deliveries, outcomes that finish while a
 * statement is under way are recorded together by the next. Each row is fenced by its attempt number, as one alone.
 */
const SETTLE = `
update webhook_deliveries d set status = v.status,
  next_attempt_at = case when v.status = 'pending' then now() + v.delay_ms * interval '1 millisecond' end,
  delivered_at = case when v.status = 'delivered' then now() end,
  last_response_status = v.response_status, last_response_body = v.response_body, last_error = v.error, updated_at = now()
from jsonb_to_recordset(?::jsonb) as v(id text, attempt int, status text, delay_ms float8, response_status int, response_body text, error text)
where d.id = v.id and d.status = 'sending' and d.attempts = v.attempt
returning d.id, d.attempts, d.status`;

/**
 * Records attempts' outcomes: delivered, due again after the schedule's next delay (or the endpoint's longer
 * Retry-After), or failed after the last.
 * Returns each one's new status, in order, or undefined where the lease had been lost (that outcome is dropped).
 */
export async function settleAttempts(em: EntityManager, settlements: readonly Settlement[], retryBaseMs: number): Promise<(string | undefined)[]> {
  if (settlements.length === 0) return [];
  const values = settlements.map(({ claimed, outcome }) => {
    const scheduled = outcome.ok ? undefined : retryDelayMs(claimed.attempt, retryBaseMs);
    const delayMs = scheduled === undefined ? undefined : nextDelayMs(scheduled, outcome.retryAfterMs);
    return {
      id: claimed.deliveryId,
      attempt: claimed.attempt,
      status: outcome.ok ? 'delivered' : delayMs === undefined ? 'failed' : 'pending',
      delay_ms: delayMs ?? null,
      response_status: outcome.status,
      response_body: outcome.body,
      // PostgreSQL text takes no NUL.
      error: outcome.error === null ? null : outcome.error.slice(0, 500).replaceAll('\u0000', ''),
    };
  });
  const rows = await em.execute<Row[]>(SETTLE, [JSON.stringify(values)]);
  const settled = new Map(rows.map((row) => [`${String(row.id)}/${Number(row.attempts)}`, String(row.status)]));
  return settlements.map(({ claimed }) => settled.get(`${claimed.deliveryId}/${claimed.attempt}`));
}
