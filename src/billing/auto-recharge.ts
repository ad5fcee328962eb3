import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { badUserInput, billingNotConfigured, notFound, paymentMethodRequired } from '../core/errors.js';
import type { Ledger } from '../credits/ledger.js';
import type { Row } from '../database/rows.js';
import type { Logger } from '../logger.js';
import { AutoRechargeAttemptStatus } from './auto-recharge-attempt.entity.js';
import type { AutoRecharge } from './auto-recharge.model.js';
import { findPack, purchaseDescription, toCreditPack } from './credit-pack.model.js';
import { stripeFailure } from './stripe-errors.js';

/**
 * Auto-recharge. A debit that leaves an account's spendable balance under its threshold records one attempt in the
 * same transaction (a database trigger: see Migration20261206000000_event_sources), never a second while one is in
 * flight, never during the back-off after a failure, never past the monthly limit. The recharge worker
 * (recharge-worker.ts) then asks Stripe for an off-session PaymentIntent for the pack with the saved card, outside
 * any transaction, with the attempt's id as the idempotency key: a retry after a crash or a timeout cannot charge
 * twice. Credits arrive once, when Stripe confirms the payment (`payment_intent.succeeded`, or the worker finding the
 * intent succeeded when the event is late), as a PURCHASE row keyed by the attempt. A decline or a card that needs
 * its holder (3-D Secure) fails the attempt: 1 h, then 6 h, then 24 h before the next may start, and a fourth
 * failure in a row turns auto-recharge off. Each outcome is an event (auto_recharge.succeeded, .failed, .disabled).
 */

/** The wait after the 1st, 2nd and 3rd failure in a row; the 4th disables auto-recharge. */
export const BACKOFF_HOURS = [1, 6, 24] as const;
export const MAX_FAILURES = BACKOFF_HOURS.length + 1;
export const MAX_MONTHLY_LIMIT = 100;
export const MAX_THRESHOLD = 1_000_000_000;

export interface ConfigureAutoRechargeRequest {
  accountId: string;
  enabled: boolean;
  threshold?: number | null;
  packId?: string | null;
  monthlyLimit?: number | null;
}

export interface AutoRechargeDeps {
  em: EntityManager;
  stripe?: Stripe;
  log: Logger;
}

const month = (at = new Date()) => `${at.toISOString().slice(0, 7)}-01`;

const appendEvent = (em: EntityManager, accountId: string, type: string, payload: Record<string, unknown>) =>
  em.execute('select tally_append_event(?, ?, ?::jsonb)', [accountId, type, JSON.stringify(payload)]);

/** The account's auto-recharge, as the AutoRecharge type shows it. */
export async function autoRechargeOf(em: EntityManager, accountId: string): Promise<AutoRecharge> {
  const [row] = await em.execute<Row[]>(
    `select a.auto_recharge_enabled, a.auto_recharge_threshold, a.auto_recharge_monthly_limit, a.auto_recharge_not_before,
       case when a.auto_recharge_month = ?::date then a.auto_recharge_count else 0 end as used, p.id as pack_id, p.name, p.credits, p.price_cents,
       p.currency, p.stripe_price_id, p.active, last.status as last_status, last.failure_reason, last.created_at as last_at
     from accounts a left join credit_packs p on p.id = a.auto_recharge_pack_id
     left join lateral (select status, failure_reason, created_at from auto_recharge_attempts r where r.account_id = a.id order by created_at desc limit 1) last on true
     where a.id = ?`,
    [month(), accountId],
  );
  if (!row) throw notFound('Account', accountId);
  return {
    enabled: row.auto_recharge_enabled === true,
    threshold: row.auto_recharge_threshold == null ? null : Number(row.auto_recharge_threshold),
    pack: row.pack_id == null ? null : toCreditPack({ ...row, id: row.pack_id }),
    monthlyLimit: row.auto_recharge_monthly_limit == null ? null : Number(row.auto_recharge_monthly_limit),
    usedThisMonth: Number(row.used),
    lastAttempt: row.last_status == null ? null : { status: String(row.last_status).toUpperCase(), reason: row.failure_reason == null ? null : String(row.failure_reason), at: row.last_at as Date },
    nextAttemptNotBefore: (row.auto_recharge_not_before as Date | null) ?? null,
  };
}

/**
 * The card for off-session payments: the one a Checkout purchase saved (recorded from its payment), or else the
 * newest card Stripe has for the customer.
 */
async function savedCard(deps: AutoRechargeDeps, accountId: string): Promise<string | undefined> {
  const [account] = await deps.em.execute<Row[]>('select stripe_customer_id, stripe_payment_method_id from accounts where id = ?', [accountId]);
  if (account?.stripe_payment_method_id) return String(account.stripe_payment_method_id);
  if (!account?.stripe_customer_id || !deps.stripe) return undefined;
  let cards: Stripe.ApiList<Stripe.PaymentMethod>;
  try {
    cards = await deps.stripe.customers.listPaymentMethods(String(account.stripe_customer_id), { type: 'card', limit: 1 });
  } catch (error) {
    throw stripeFailure(deps.log, 'look up the saved card', error);
  }
  const card = cards.data[0]?.id;
  if (card) await deps.em.execute('update accounts set stripe_payment_method_id = ? where id = ? and stripe_payment_method_id is null', [card, accountId]);
  return card;
}

/**
 * Turns auto-recharge on (with a saved card: a Checkout purchase saves it) or off, and sets its threshold, pack and
 * monthly limit. Turning it on clears the back-off of earlier failures.
 */
export async function configureAutoRecharge(deps: AutoRechargeDeps, request: ConfigureAutoRechargeRequest): Promise<AutoRecharge> {
  const { em } = deps;
  const [current] = await em.execute<Row[]>('select auto_recharge_threshold, auto_recharge_pack_id, auto_recharge_monthly_limit from accounts where id = ?', [
    request.accountId,
  ]);
  if (!current) throw notFound('Account', request.accountId);
  const threshold = request.threshold ?? (current.auto_recharge_threshold == null ? null : Number(current.auto_recharge_threshold));
  const packId = request.packId ?? (current.auto_recharge_pack_id == null ? null : String(current.auto_recharge_pack_id));
  const monthlyLimit = request.monthlyLimit ?? (current.auto_recharge_monthly_limit == null ? null : Number(current.auto_recharge_monthly_limit));
  if (threshold !== null && (!Number.isInteger(threshold) || threshold < 0 || threshold > MAX_THRESHOLD)) {
    throw badUserInput('input.threshold', `must be a whole number of credits from 0 to ${MAX_THRESHOLD.toLocaleString('en-US')}`);
  }
  if (monthlyLimit !== null && (!Number.isInteger(monthlyLimit) || monthlyLimit < 1 || monthlyLimit > MAX_MONTHLY_LIMIT)) {
    throw badUserInput('input.monthlyLimit', `must be 1 to ${MAX_MONTHLY_LIMIT} recharges a month`);
  }
  if (packId !== null && request.packId != null) {
    const pack = await findPack(em, packId, { activeOnly: true });
    if (!pack) throw badUserInput('input.packId', `no active credit pack has id ${packId}`);
  }
  if (request.enabled) {
    if (threshold === null) throw badUserInput('input.threshold', 'is required to turn auto-recharge on');
    if (packId === null) throw badUserInput('input.packId', 'is required to turn auto-recharge on');
    if (monthlyLimit === null) throw badUserInput('input.monthlyLimit', 'is required to turn auto-recharge on');
    if (!deps.stripe) throw billingNotConfigured();
    if (!(await savedCard(deps, request.accountId))) throw paymentMethodRequired();
  }
  await em.execute(
    `update accounts set auto_recharge_enabled = ?, auto_recharge_threshold = ?, auto_recharge_pack_id = ?, auto_recharge_monthly_limit = ?,
       auto_recharge_failures = case when ? then 0 else auto_recharge_failures end,
       auto_recharge_not_before = case when ? then null else auto_recharge_not_before end, updated_at = now()
     where id = ?`,
    [request.enabled, threshold, packId, monthlyLimit, request.enabled, request.enabled, request.accountId],
  );
  return autoRechargeOf(em, request.accountId);
}

/** Remembers the card a Checkout purchase saved for off-session use, for the account whose customer paid. */
export async function rememberSavedCard(em: EntityManager, intent: Stripe.PaymentIntent): Promise<boolean> {
  const card = typeof intent.payment_method === 'string' ? intent.payment_method : intent.payment_method?.id;
  const customer = typeof intent.customer === 'string' ? intent.customer : intent.customer?.id;
  if (!card || !customer || intent.setup_future_usage !== 'off_session') return false;
  const rows = await em.execute<Row[]>('update accounts set stripe_payment_method_id = ?, updated_at = now() where stripe_customer_id = ? returning id', [card, customer]);
  return rows.length > 0;
}

interface LockedAttempt {
  id: string;
  accountId: string;
  packId: string;
  status: AutoRechargeAttemptStatus;
  paymentIntentId: string | null;
  failureReason: string | null;
}

/** The reason of an attempt given up on because Stripe could not be reached: whether it charged the card is unknown. */
export const PROVIDER_UNAVAILABLE = 'provider_unavailable';

async function lockAttempt(em: EntityManager, by: { id?: string; paymentIntentId?: string }): Promise<LockedAttempt | undefined> {
  const [row] = await em.execute<Row[]>(
    `select id, account_id, pack_id, status, stripe_payment_intent_id, failure_reason from auto_recharge_attempts
     where ${by.id ? 'id = ?' : 'stripe_payment_intent_id = ?'} for update`,
    [by.id ?? by.paymentIntentId],
  );
  if (!row) return undefined;
  return {
    id: String(row.id),
    accountId: String(row.account_id),
    packId: String(row.pack_id),
    status: row.status as AutoRechargeAttemptStatus,
    paymentIntentId: row.stripe_payment_intent_id == null ? null : String(row.stripe_payment_intent_id),
    failureReason: row.failure_reason == null ? null : String(row.failure_reason),
  };
}

/** The attempt a PaymentIntent of Tally's was made for: by its id, or the attemptId its metadata names. */
export async function attemptOfIntent(em: EntityManager, intent: Stripe.PaymentIntent): Promise<string | undefined> {
  const [row] = await em.execute<Row[]>('select id from auto_recharge_attempts where stripe_payment_intent_id = ? or id = ? limit 1', [
    intent.id,
    intent.metadata?.autoRechargeAttemptId ?? '',
  ]);
  return row ? String(row.id) : undefined;
}

export type RechargeOutcome = 'credited' | 'already-credited' | 'unknown-attempt';

/**
 * Stripe confirmed the payment: the pack's credits, once (the attempt's row lock and its PURCHASE row keyed by the
 * attempt id), even for an attempt already given up on (the money arrived, so the credits are owed).
 */
export async function rechargeSucceeded(em: EntityManager, ledger: Ledger, attemptId: string, intent: Stripe.PaymentIntent): Promise<RechargeOutcome> {
  return em.transactional(async (tx) => {
    const attempt = await lockAttempt(tx, { id: attemptId });
    if (!attempt) return 'unknown-attempt';
    if (attempt.status === AutoRechargeAttemptStatus.SUCCEEDED) return 'already-credited';
    const pack = await findPack(tx, attempt.packId);
    if (!pack) throw new Error(`auto-recharge ${attempt.id} names pack ${attempt.packId}, which does not exist`);
    const result = await ledger.purchases.completeUnrecorded({
      accountId: attempt.accountId,
      actorId: null,
      credits: pack.credits,
      description: `Auto-recharge: ${purchaseDescription(pack)}`,
      stripeSessionId: attempt.id,
      paymentIntentId: intent.id,
      payment: { amountPaid: intent.amount_received || intent.amount, currency: intent.currency ?? null },
      metadata: { packId: pack.id, autoRechargeAttemptId: attempt.id, source: 'auto-recharge' },
    });
    const purchase = result.transaction;
    await tx.execute(
      `update auto_recharge_attempts set status = 'succeeded', stripe_payment_intent_id = coalesce(stripe_payment_intent_id, ?), purchase_id = ?,
         failure_reason = null, completed_at = now(), updated_at = now() where id = ?`,
      [intent.id, purchase?.id ?? null, attempt.id],
    );
    await tx.execute(
      `update accounts set auto_recharge_attempt_id = case when auto_recharge_attempt_id = ? then null else auto_recharge_attempt_id end,
         auto_recharge_failures = 0, auto_recharge_not_before = null,
         -- An attempt given up on before the money arrived had its slot of the month given back (unless Stripe could
         -- not be reached, when it kept it): it takes it again.
         auto_recharge_count = auto_recharge_count + case when ? = 'failed' and ? is distinct from ? and auto_recharge_month = ?::date then 1 else 0 end,
         updated_at = now()
       where id = ?`,
      [attempt.id, attempt.status, attempt.failureReason, PROVIDER_UNAVAILABLE, month(), attempt.accountId],
    );
    await appendEvent(tx, attempt.accountId, 'auto_recharge.succeeded', {
      attemptId: attempt.id,
      packId: pack.id,
      credits: pack.credits,
      stripePaymentIntentId: intent.id,
      transactionId: purchase?.id ?? null,
      balanceAfter: purchase?.balanceAfter ?? null,
    });
    return 'credited';
  });
}

export type FailureOutcome = 'failed' | 'disabled' | 'already-resolved' | 'unknown-attempt';

/**
 * The attempt failed (declined, needs the card holder, or Stripe could not be reached): it frees its slot, and the
 * back-off grows; the fourth failure in a row turns auto-recharge off. Once-only: a resolved attempt stays as it is.
 */
export async function rechargeFailed(
  em: EntityManager,
  attemptId: string,
  reason: string,
  paymentIntentId?: string | null,
  options: {
    /** Whether Stripe took the payment is unknown (it could not be reached): the attempt keeps its month's slot. */
    outcomeUnknown?: boolean;
    /** Dropped before Stripe was asked (auto-recharge was turned off): no failure counts, no back-off. */
    dropped?: boolean;
  } = {},
): Promise<FailureOutcome> {
  return em.transactional(async (tx) => {
    const attempt = await lockAttempt(tx, { id: attemptId });
    if (!attempt) return 'unknown-attempt';
    if (attempt.status === AutoRechargeAttemptStatus.SUCCEEDED || attempt.status === AutoRechargeAttemptStatus.FAILED) return 'already-resolved';
    await tx.execute(
      `update auto_recharge_attempts set status = 'failed', failure_reason = ?, stripe_payment_intent_id = coalesce(stripe_payment_intent_id, ?),
         completed_at = now(), updated_at = now() where id = ?`,
      [reason.slice(0, 200), paymentIntentId ?? null, attempt.id],
    );
    const [before] = await tx.execute<Row[]>('select auto_recharge_enabled from accounts where id = ? for no key update', [attempt.accountId]);
    const [account] = await tx.execute<Row[]>(
      `update accounts set auto_recharge_attempt_id = case when auto_recharge_attempt_id = ? then null else auto_recharge_attempt_id end,
         auto_recharge_count = case when auto_recharge_month = ?::date and not ? then greatest(auto_recharge_count - 1, 0) else auto_recharge_count end,
         auto_recharge_failures = case when ? then auto_recharge_failures else auto_recharge_failures + 1 end,
         auto_recharge_not_before = case when ? then auto_recharge_not_before
           else now() + make_interval(hours => (?::int[])[least(auto_recharge_failures + 1, ?)]) end,
         auto_recharge_enabled = case when ? then auto_recharge_enabled else auto_recharge_enabled and auto_recharge_failures + 1 < ? end,
         updated_at = now()
       where id = ? returning auto_recharge_failures, auto_recharge_enabled, auto_recharge_not_before`,
      [
        attempt.id,
        month(),
        options.outcomeUnknown === true,
        options.dropped === true,
        options.dropped === true,
        `{${BACKOFF_HOURS.join(',')}}`,
        BACKOFF_HOURS.length,
        options.dropped === true,
        MAX_FAILURES,
        attempt.accountId,
      ],
    );
    const disabled = before!.auto_recharge_enabled === true && account!.auto_recharge_enabled !== true;
    await appendEvent(tx, attempt.accountId, 'auto_recharge.failed', {
      attemptId: attempt.id,
      reason,
      failuresInARow: Number(account!.auto_recharge_failures),
      nextAttemptNotBefore: disabled || account!.auto_recharge_not_before == null ? null : new Date(account!.auto_recharge_not_before as string).toISOString(),
      stripePaymentIntentId: paymentIntentId ?? attempt.paymentIntentId,
    });
    if (disabled) {
      await appendEvent(tx, attempt.accountId, 'auto_recharge.disabled', { reason: `${MAX_FAILURES} failed recharges in a row`, lastFailure: reason });
    }
    return disabled ? 'disabled' : 'failed';
  });
}
