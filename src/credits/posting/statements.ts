import { namedStatement } from '../../database/named-statement.js';

/**
 * Every statement that changes a balance (`users.credit_balance`, `held_credits`, `expiring_credits`) or writes a
 * ledger, grant, allocation or reservation row. Only the posting core (this folder) runs them; the benchmark's
 * raw-SQL ceiling imports POST to send exactly what a request sends. Parameters are named; each statement compiles
 * to the `?` text the ORM formats, so what goes over the wire is unchanged by the names.
 */

/** The columns of a COMPLETED row, as every posting statement appends it. */
export interface PostedRowParams {
  id: string;
  userId: string;
  type: string;
  amount: number;
  description: string;
  feature: string | null;
  idempotencyKey: string | null;
  requestHash: string | null;
  workshopId: string | null;
  stripeSessionId: string | null;
  stripePaymentIntentId: string | null;
  refundOfId: string | null;
  creditsReversed: number | null;
  /** JSON text, or null. */
  metadata: string | null;
}

/** Appends the COMPLETED row for the balance `moved` left; effective_at is read while the user row is locked. */
const INSERT_POSTED_ROW = `
insert into credit_transactions (id, user_id, type, status, amount, balance_after, description, feature,
  idempotency_key, request_hash, workshop_id, stripe_session_id, stripe_payment_intent_id, refund_of_id,
  credits_reversed, metadata, effective_at, created_at)
select :id, :userId, :type, 'completed', :amount, moved.credit_balance, :description, :feature, :idempotencyKey, :requestHash, :workshopId, :stripeSessionId, :stripePaymentIntentId, :refundOfId, :creditsReversed, :metadata::jsonb, clock_timestamp(), now()
from moved
returning *`;

/**
 * The fast path: moves the balance by `amount` and appends the COMPLETED row carrying the balance that resulted. A
 * credit always applies. A debit applies only when the spendable balance (balance - held) covers it and the user has
 * no expiring credits; with expiring credits the `-1` lets only an addition (amount >= 1) through, because a debit
 * must record which grants it drew from (the slow path). No row comes back otherwise, and nothing was written.
 */
export const POST = namedStatement<PostedRowParams>(`
with moved as (
  update users set credit_balance = credit_balance + :amount, updated_at = now()
  where id = :userId and :amount + case when expiring_credits = 0 then credit_balance - held_credits else -1 end >= 0
  returning credit_balance
)${INSERT_POSTED_ROW}`);

/** The slow path's posting: the user row is locked and every check done in code; the CHECK constraints back it. */
export const POST_LOCKED = namedStatement<PostedRowParams & { heldDelta: number; expiringDelta: number }>(`
with moved as (
  update users set credit_balance = credit_balance + :amount, held_credits = held_credits + :heldDelta,
    expiring_credits = expiring_credits + :expiringDelta, updated_at = now()
  where id = :userId
  returning credit_balance
)${INSERT_POSTED_ROW}`);

/** What a debit took from each expiring grant: the grants shrink and the allocations record it, in one statement. */
export const ALLOCATE = namedStatement<{ draws: string; transactionId: string }>(`
with taken as (select * from json_to_recordset(:draws::json) as d(grant_id text, amount int)),
drawn as (update credit_grants g set remaining = g.remaining - taken.amount from taken where g.transaction_id = taken.grant_id)
insert into credit_allocations (transaction_id, grant_id, amount) select :transactionId, grant_id, amount from taken`);

/** The expiring lot of a GRANT row. */
export const INSERT_GRANT_LOT = namedStatement<{ transactionId: string; userId: string; amount: number; expiresAt: Date }>(
  'insert into credit_grants (transaction_id, user_id, amount, remaining, expires_at, created_at) values (:transactionId, :userId, :amount, :amount, :expiresAt, now())',
);

/** Frees a user's lapsed holds: they turn EXPIRED and leave held_credits, in one statement. */
export const EXPIRE_HOLDS = namedStatement<{ userId: string; now: Date }>(`
with lapsed as (
  update reservations set status = 'expired', resolved_at = clock_timestamp()
  where user_id = :userId and status = 'held' and expires_at <= :now
  returning amount
),
freed as (
  update users set held_credits = held_credits - (select sum(amount) from lapsed), updated_at = now()
  where id = :userId and exists (select 1 from lapsed)
  returning id
)
select coalesce(sum(amount), 0)::int as credits, count(*)::int as holds from lapsed`);

/** The hold itself: held_credits grows (under `condition`) and the reservation row is written, in one statement. */
interface HoldParams {
  maxOpen: number;
  id: string;
  userId: string;
  amount: number;
  feature: string;
  idempotencyKey: string;
  requestHash: string;
  description: string | null;
  expiresAt: Date;
}

const holdSql = (condition: string) => `
with held as (
  update users set held_credits = held_credits + :amount, updated_at = now()
  where id = :userId${condition}
  returning id
)
insert into reservations (id, user_id, amount, status, feature, idempotency_key, request_hash, description,
  expires_at, created_at)
select :id, held.id, :amount, 'held', :feature, :idempotencyKey, :requestHash, :description, :expiresAt, now() from held
returning *`;

/** Fast path of a hold: no expiring credits to expire first, and enough spendable balance. */
export const HOLD = namedStatement<HoldParams>(
  holdSql(
    ` and expiring_credits = 0 and credit_balance - held_credits >= :amount
    and (select count(*) from reservations where user_id = :userId and status = 'held') < :maxOpen`,
  ),
);
export const HOLD_LOCKED = namedStatement<Omit<HoldParams, 'maxOpen'>>(holdSql(''));

/** A capture's bookkeeping, once its CONSUMPTION row is posted (the posting freed the hold from held_credits). */
export const MARK_CAPTURED = namedStatement<{ reservationId: string; amount: number; transactionId: string }>(
  `update reservations set status = 'captured', captured_amount = :amount, transaction_id = :transactionId, resolved_at = clock_timestamp()
   where id = :reservationId`,
);

/** Frees a HELD reservation without a charge: it turns RELEASED and leaves held_credits, in one statement. */
export const RELEASE = namedStatement<{ reservationId: string }>(`
with released as (
  update reservations set status = 'released', resolved_at = clock_timestamp()
  where id = :reservationId and status = 'held'
  returning user_id, amount
)
update users u set held_credits = u.held_credits - released.amount, updated_at = now()
from released where u.id = released.user_id
returning u.held_credits`);

/**
 * What a refund or dispute takes from open holds, newest first: each hold shrinks by its `take` and records it in
 * reversed_amount. The posting that goes with it frees the same total from held_credits (its heldDelta).
 */
export const SHRINK_HOLDS = namedStatement<{ takes: string }>(`
update reservations r set amount = r.amount - t.take, reversed_amount = r.reversed_amount + t.take
from json_to_recordset(:takes::json) as t(id text, take int)
where r.id = t.id and r.status = 'held'`);

/**
 * A purchase that has not taken effect: it records the Checkout Session and leaves the balance alone. A session
 * already recorded is left as it is (no row comes back).
 */
export const RECORD_PENDING_PURCHASE = namedStatement<{
  id: string;
  userId: string;
  credits: number;
  description: string;
  stripeSessionId: string;
  metadata: string | null;
}>(`insert into credit_transactions (id, user_id, type, status, amount, balance_after, description,
     stripe_session_id, metadata, created_at)
   select :id, u.id, 'purchase', 'pending', :credits, u.credit_balance, :description, :stripeSessionId, :metadata::jsonb, now()
   from users u where u.id = :userId
   on conflict (stripe_session_id) do nothing
   returning *`);

/**
 * PENDING -> COMPLETED in one statement: the balance grows by the purchase's credits and the row takes effect with
 * the balance that resulted, its place in posting order and the payment intent. Both happen only while the row is
 * still PENDING (the caller holds its lock).
 */
export const COMPLETE_PURCHASE = namedStatement<{
  purchaseId: string;
  userId: string;
  amount: number;
  paymentIntentId: string | null;
  /** What Stripe charged (JSON: {"amountPaid": cents, "currency": ...}), kept to size later disputes; or null. */
  payment: string | null;
}>(`
with moved as (
  update users set credit_balance = credit_balance + :amount, updated_at = now()
  where id = :userId and exists (select 1 from credit_transactions where id = :purchaseId and status = 'pending')
  returning credit_balance
)
update credit_transactions t set status = 'completed', balance_after = moved.credit_balance, effective_at = clock_timestamp(),
  posting_seq = nextval('credit_transactions_posting_seq'),
  stripe_payment_intent_id = coalesce(:paymentIntentId, t.stripe_payment_intent_id),
  metadata = case when :payment::jsonb is null then t.metadata else coalesce(t.metadata, '{}'::jsonb) || :payment::jsonb end
from moved where t.id = :purchaseId
returning t.*`);

/** PENDING -> FAILED (expired or failed payment), with the reason in its metadata. */
export const FAIL_PURCHASE = namedStatement<{ purchaseId: string; reason: string }>(
  `update credit_transactions set status = 'failed',
     metadata = coalesce(metadata, '{}'::jsonb) || jsonb_build_object('failureReason', :reason::text)
   where id = :purchaseId and status = 'pending' returning *`,
);
