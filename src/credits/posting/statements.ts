import { namedStatement } from '../../database/named-statement.js';

/**
 * Every statement that changes an account's credits (`accounts.credit_balance`, `held_credits`, `expiring_credits`,
 * `open_reservations`) or a member's spend (`organization_members.spent_credits`, `held_credits`), or writes a ledger,
 * grant, allocation or reservation row. Only the posting core (this folder) runs them; the benchmark's raw-SQL
 * ceiling imports POST to send exactly what a request sends. Parameters are named; each statement compiles to the
 * `?` text the ORM formats, so what goes over the wire is unchanged by the names.
 */

/** The columns of a COMPLETED row, as every posting statement appends it. */
export interface PostedRowParams {
  id: string;
  accountId: string;
  actorId: string | null;
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

/** Appends the COMPLETED row for the balance `moved` left; effective_at is read while the account row is locked. */
const INSERT_POSTED_ROW = `
insert into credit_transactions (id, account_id, actor_id, type, status, amount, balance_after, description, feature,
  idempotency_key, request_hash, workshop_id, stripe_session_id, stripe_payment_intent_id, refund_of_id,
  credits_reversed, metadata, effective_at, created_at)
select :id, :accountId, :actorId, :type, 'completed', :amount, moved.credit_balance, :description, :feature, :idempotencyKey, :requestHash, :workshopId, :stripeSessionId, :stripePaymentIntentId, :refundOfId, :creditsReversed, :metadata::jsonb, clock_timestamp(), now()
from moved
returning *`;

/**
 * The fast path: moves the balance by `amount` and appends the COMPLETED row carrying the balance that resulted. A
 * credit always applies. A debit applies only when the spendable balance (balance - held) covers it and the account
 * has no expiring credits; with expiring credits the `-1` lets only an addition (amount >= 1) through, because a
 * debit must record which grants it drew from (the slow path). No row comes back otherwise, and nothing was written.
 */
export const POST = namedStatement<PostedRowParams>(`
with moved as (
  update accounts set credit_balance = credit_balance + :amount, updated_at = now()
  where id = :accountId and :amount + case when expiring_credits = 0 then credit_balance - held_credits else -1 end >= 0
  returning credit_balance
)${INSERT_POSTED_ROW}`);

/** A member's monthly spend as of `month`: what they spent in it (nothing if their counter is of an older month). */
const SPENT_THIS_MONTH = `(case when m.spend_month = :month::date then m.spent_credits else 0 end)`;

export interface MemberDebitParams extends PostedRowParams {
  /** The first day of the UTC month the spend counts in (YYYY-MM-01). */
  month: string;
  /** The credits the member spends (-amount). */
  debit: number;
}

/**
 * The fast path of a member spending from an organization's wallet, in one statement. The member's row counts the
 * spend against their monthly limit only while the wallet can pay: the account row is locked first (inside the
 * member's condition, FOR NO KEY UPDATE, the lock an UPDATE takes), then the member row, the order every path takes.
 * A member removed (or changed) while this waited is seen as they are now: the row no longer qualifies, and nothing
 * is written. No row comes back when the member is not one, is over the limit, or the wallet cannot pay this way.
 */
export const POST_MEMBER = namedStatement<MemberDebitParams>(`
with member as (
  update organization_members m set spent_credits = ${SPENT_THIS_MONTH} + :debit, spend_month = :month::date, updated_at = now()
  where m.organization_id = :accountId and m.user_id = :actorId and m.removed_at is null
    and (m.monthly_spend_limit is null or ${SPENT_THIS_MONTH} + m.held_credits + :debit <= m.monthly_spend_limit)
    and exists (
      select 1 from accounts a where a.id = :accountId and a.expiring_credits = 0 and a.credit_balance - a.held_credits >= :debit
      for no key update
    )
  returning 1
),
moved as (
  update accounts set credit_balance = credit_balance + :amount, updated_at = now()
  where id = :accountId and exists (select 1 from member)
  returning credit_balance
)${INSERT_POSTED_ROW}`);

/** The slow path's posting: the account row is locked and every check done in code; the CHECK constraints back it. */
export const POST_LOCKED = namedStatement<PostedRowParams & { heldDelta: number; expiringDelta: number }>(`
with moved as (
  update accounts set credit_balance = credit_balance + :amount, held_credits = held_credits + :heldDelta,
    expiring_credits = expiring_credits + :expiringDelta, updated_at = now()
  where id = :accountId
  returning credit_balance
)${INSERT_POSTED_ROW}`);

/** A member's spend on the slow path (their row is locked): counts `debit` in `month`. */
export const COUNT_MEMBER_SPEND = namedStatement<{ organizationId: string; userId: string; month: string; debit: number }>(`
update organization_members m set spent_credits = ${SPENT_THIS_MONTH} + :debit, spend_month = :month::date, updated_at = now()
where m.organization_id = :organizationId and m.user_id = :userId`);

/** What a debit took from each expiring grant: the grants shrink and the allocations record it, in one statement. */
export const ALLOCATE = namedStatement<{ draws: string; transactionId: string; accountId: string }>(`
with taken as (select * from json_to_recordset(:draws::json) as d(grant_id text, amount int)),
drawn as (
  update credit_grants g set remaining = g.remaining - taken.amount from taken
  where g.transaction_id = taken.grant_id and g.account_id = :accountId
)
insert into credit_allocations (transaction_id, grant_id, amount) select :transactionId, grant_id, amount from taken`);

/** The expiring lot of a GRANT row. */
export const INSERT_GRANT_LOT = namedStatement<{ transactionId: string; accountId: string; amount: number; expiresAt: Date }>(
  'insert into credit_grants (transaction_id, account_id, amount, remaining, expires_at, created_at) values (:transactionId, :accountId, :amount, :amount, :expiresAt, now())',
);

/** Members' open holds going away (expired, released, shrunk): each member's held count drops by its amounts. */
const FREE_MEMBER_HOLDS = (source: string) => `
members as (
  update organization_members m set held_credits = m.held_credits - freed.amount, updated_at = now()
  from (select account_id, actor_id, sum(amount)::int as amount from ${source} group by account_id, actor_id) freed
  where m.organization_id = freed.account_id and m.user_id = freed.actor_id
)`;

/** Frees an account's lapsed holds: they turn EXPIRED and leave held_credits (and their members'), in one statement. */
export const EXPIRE_HOLDS = namedStatement<{ accountId: string; now: Date }>(`
with lapsed as (
  update reservations set status = 'expired', resolved_at = clock_timestamp()
  where account_id = :accountId and status = 'held' and expires_at <= :now
  returning account_id, actor_id, amount
),${FREE_MEMBER_HOLDS('lapsed')},
freed as (
  update accounts set held_credits = held_credits - (select sum(amount) from lapsed),
    open_reservations = open_reservations - (select count(*) from lapsed), updated_at = now()
  where id = :accountId and exists (select 1 from lapsed)
  returning id
)
select coalesce(sum(amount), 0)::int as credits, count(*)::int as holds from lapsed`);

interface HoldParams {
  maxOpen: number;
  id: string;
  accountId: string;
  actorId: string | null;
  amount: number;
  feature: string;
  idempotencyKey: string;
  requestHash: string;
  description: string | null;
  expiresAt: Date;
}

/** The hold itself: held_credits grows (under `condition`) and the reservation row is written, in one statement. */
const holdSql = (gate: string, condition: string) => `
with ${gate}held as (
  update accounts set held_credits = held_credits + :amount, open_reservations = open_reservations + 1, updated_at = now()
  where id = :accountId${condition}
  returning id
)
insert into reservations (id, account_id, actor_id, amount, status, feature, idempotency_key, request_hash, description,
  expires_at, created_at)
select :id, held.id, :actorId, :amount, 'held', :feature, :idempotencyKey, :requestHash, :description, :expiresAt, now() from held
returning *`;

/** A hold may be made on the fast path: nothing expiring to expire first, enough spendable, fewer open holds than the cap. */
const HOLDABLE = 'expiring_credits = 0 and credit_balance - held_credits >= :amount and open_reservations < :maxOpen';

/** Fast path of a hold on a personal account. */
export const HOLD = namedStatement<HoldParams>(holdSql('', ` and ${HOLDABLE}`));

/**
 * Fast path of a member's hold on an organization's wallet: the hold counts against the member's monthly limit
 * while it is open. Lock order as POST_MEMBER: the account row (inside the member's condition), then the member's.
 */
export const HOLD_MEMBER = namedStatement<HoldParams & { month: string }>(
  holdSql(
    `member as (
  update organization_members m set held_credits = m.held_credits + :amount, updated_at = now()
  where m.organization_id = :accountId and m.user_id = :actorId and m.removed_at is null
    and (m.monthly_spend_limit is null or ${SPENT_THIS_MONTH} + m.held_credits + :amount <= m.monthly_spend_limit)
    and exists (
      select 1 from accounts a
      where a.id = :accountId and a.expiring_credits = 0 and a.credit_balance - a.held_credits >= :amount and a.open_reservations < :maxOpen
      for no key update
    )
  returning 1
),
`,
    ' and exists (select 1 from member)',
  ),
);

/** A hold under the account's lock (and the member's, on an organization), every check done in code. */
export const HOLD_LOCKED = namedStatement<Omit<HoldParams, 'maxOpen'>>(holdSql('', ''));

/** A member's hold on the slow path (their row is locked). */
export const COUNT_MEMBER_HOLD = namedStatement<{ organizationId: string; userId: string; amount: number }>(`
update organization_members m set held_credits = m.held_credits + :amount, updated_at = now()
where m.organization_id = :organizationId and m.user_id = :userId`);

/**
 * A capture's bookkeeping, once its CONSUMPTION row is posted (the posting freed the hold from held_credits): the
 * reservation turns CAPTURED, the account has one open hold fewer, and a member's hold becomes what they spent.
 */
export const MARK_CAPTURED = namedStatement<{ reservationId: string; amount: number; transactionId: string; month: string; resolvedBy: string; accountId: string }>(`
with captured as (
  update reservations set status = 'captured', captured_amount = :amount, transaction_id = :transactionId, resolved_at = clock_timestamp(),
    resolved_by_id = :resolvedBy
  where id = :reservationId and account_id = :accountId
  returning account_id, actor_id, amount
),
member as (
  update organization_members m set held_credits = m.held_credits - captured.amount,
    spent_credits = ${SPENT_THIS_MONTH} + :amount, spend_month = :month::date, updated_at = now()
  from captured where m.organization_id = captured.account_id and m.user_id = captured.actor_id
)
update accounts a set open_reservations = a.open_reservations - 1, updated_at = now()
from captured where a.id = captured.account_id`);

/**
 * Frees a HELD reservation without a charge: it turns RELEASED (recording who released it and why) and leaves
 * held_credits (and its member's), in one statement.
 */
export const RELEASE = namedStatement<{ reservationId: string; resolvedBy: string; reason: string | null; accountId: string }>(`
with released as (
  update reservations set status = 'released', resolved_at = clock_timestamp(), resolved_by_id = :resolvedBy, resolution_reason = :reason
  where id = :reservationId and account_id = :accountId and status = 'held'
  returning account_id, actor_id, amount
),${FREE_MEMBER_HOLDS('released')}
update accounts a set held_credits = a.held_credits - released.amount, open_reservations = a.open_reservations - 1, updated_at = now()
from released where a.id = released.account_id
returning a.held_credits`);

/**
 * What a refund or dispute takes from open holds, newest first: each hold shrinks by its `take` and records it in
 * reversed_amount, and a member's held count drops with it. The posting that goes with it frees the same total
 * from the account's held_credits (its heldDelta).
 */
export const SHRINK_HOLDS = namedStatement<{ takes: string }>(`
with shrunk as (
  update reservations r set amount = r.amount - t.take, reversed_amount = r.reversed_amount + t.take
  from json_to_recordset(:takes::json) as t(id text, take int)
  where r.id = t.id and r.status = 'held'
  returning r.account_id, r.actor_id, t.take as amount
),${FREE_MEMBER_HOLDS('shrunk')}
select count(*)::int as holds from shrunk`);

/**
 * A purchase that has not taken effect: it records the Checkout Session and leaves the balance alone. A session
 * already recorded is left as it is (no row comes back).
 */
export const RECORD_PENDING_PURCHASE = namedStatement<{
  id: string;
  accountId: string;
  actorId: string | null;
  credits: number;
  description: string;
  stripeSessionId: string;
  metadata: string | null;
}>(`insert into credit_transactions (id, account_id, actor_id, type, status, amount, balance_after, description,
     stripe_session_id, metadata, created_at)
   select :id, a.id, :actorId, 'purchase', 'pending', :credits, a.credit_balance, :description, :stripeSessionId, :metadata::jsonb, now()
   from accounts a where a.id = :accountId
   on conflict (stripe_session_id) do nothing
   returning *`);

/**
 * PENDING -> COMPLETED in one statement: the balance grows by the purchase's credits and the row takes effect with
 * the balance that resulted, its place in posting order and the payment intent. Both happen only while the row is
 * still PENDING (the caller holds its lock).
 */
export const COMPLETE_PURCHASE = namedStatement<{
  purchaseId: string;
  accountId: string;
  amount: number;
  paymentIntentId: string | null;
  /** What Stripe charged (JSON: {"amountPaid": cents, "currency": ...}), kept to size later disputes; or null. */
  payment: string | null;
}>(`
with moved as (
  update accounts set credit_balance = credit_balance + :amount, updated_at = now()
  where id = :accountId and exists (select 1 from credit_transactions where id = :purchaseId and status = 'pending')
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
