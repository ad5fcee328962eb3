import type { MikroORM } from '@mikro-orm/postgresql';
import type { EntityManager } from '@mikro-orm/postgresql';
import Stripe from 'stripe';
import { Ledger, type LedgerOptions } from '../credits/ledger.js';
import type { Row } from '../database/rows.js';
import type { Logger } from '../logger.js';
import { PROVIDER_UNAVAILABLE, rechargeFailed, rechargeSucceeded } from './auto-recharge.js';
import { isStripeError } from './stripe-errors.js';

export interface RechargeWorkerOptions {
  orm: MikroORM;
  stripe?: Stripe;
  log: Logger;
  /** How often each instance looks for attempts to send (AUTO_RECHARGE_INTERVAL_MS); 0 turns the worker off. */
  intervalMs: number;
  ledger: LedgerOptions;
}

export interface RechargeWorker {
  /** One pass: claim due attempts, ask Stripe, record the outcomes. Answers how many it handled. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

/** Calls to Stripe that fail for a reason other than the card (network, Stripe's 5xx) are tried this often at most. */
export const MAX_TRIES = 5;
/** How long a claimed attempt is left alone (a crashed worker's claim lapses after it, and another instance goes on). */
const LEASE_SECONDS = 120;
/** How long to wait for payment_intent.succeeded before asking Stripe about the intent. */
const CONFIRMATION_WAIT_SECONDS = 600;

interface Claimed {
  id: string;
  accountId: string;
  paymentIntentId: string | null;
  tries: number;
}

/**
 * Claims due attempts with FOR UPDATE SKIP LOCKED (instances never take the same one) and leases them before any
 * call to Stripe, in a transaction that commits first: no transaction waits on the network.
 */
async function claim(em: EntityManager, batch: number): Promise<Claimed[]> {
  return em.transactional(async (tx) => {
    const rows = await tx.execute<Row[]>(
      `select id, account_id, stripe_payment_intent_id, tries from auto_recharge_attempts
       where status in ('pending', 'processing') and next_try_at <= now() order by next_try_at limit ? for update skip locked`,
      [batch],
    );
    if (rows.length === 0) return [];
    await tx.execute(
      `update auto_recharge_attempts set status = 'processing', tries = tries + 1, next_try_at = now() + make_interval(secs => ?), updated_at = now()
       where id = any(?::text[])`,
      [LEASE_SECONDS, `{${rows.map((row) => String(row.id)).join(',')}}`],
    );
    return rows.map((row) => ({
      id: String(row.id),
      accountId: String(row.account_id),
      paymentIntentId: row.stripe_payment_intent_id == null ? null : String(row.stripe_payment_intent_id),
      tries: Number(row.tries) + 1,
    }));
  });
}

const failureReason = (error: Stripe.errors.StripeError) =>
  [error.code ?? error.type, (error as { decline_code?: string }).decline_code].filter(Boolean).join(': ');

const intentFailure = (intent: Stripe.PaymentIntent) => {
  const problem = intent.last_payment_error;
  if (intent.status === 'requires_action') return problem?.code ?? 'authentication_required';
  return [problem?.code ?? intent.status, problem?.decline_code].filter(Boolean).join(': ');
};

export function startRechargeWorker(options: RechargeWorkerOptions): RechargeWorker {
  const { orm, stripe, log } = options;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  let stopped = false;

  const later = async (em: EntityManager, id: string, seconds: number, paymentIntentId?: string) =>
    em.execute(
      `update auto_recharge_attempts set next_try_at = now() + make_interval(secs => ?), stripe_payment_intent_id = coalesce(stripe_payment_intent_id, ?),
         updated_at = now() where id = ? and status = 'processing'`,
      [seconds, paymentIntentId ?? null, id],
    );

  const settle = async (em: EntityManager, attempt: Claimed, intent: Stripe.PaymentIntent) => {
    if (intent.status === 'succeeded') {
      const outcome = await rechargeSucceeded(em, new Ledger(em, options.ledger), attempt.id, intent);
      log.info({ attemptId: attempt.id, accountId: attempt.accountId, paymentIntentId: intent.id, outcome }, 'auto-recharge confirmed by Stripe');
    } else if (['requires_action', 'requires_payment_method', 'canceled'].includes(intent.status)) {
      const outcome = await rechargeFailed(em, attempt.id, intentFailure(intent), intent.id);
      log.warn({ attemptId: attempt.id, accountId: attempt.accountId, paymentIntentId: intent.id, outcome, status: intent.status }, 'auto-recharge failed');
    } else {
      await later(em, attempt.id, CONFIRMATION_WAIT_SECONDS, intent.id);
    }
  };

  const send = async (em: EntityManager, attempt: Claimed) => {
    if (!stripe) {
      await rechargeFailed(em, attempt.id, 'billing_not_configured');
      return;
    }
    try {
      if (attempt.paymentIntentId) {
        // Asked before, and Stripe's confirmation has not arrived: ask Stripe how the payment stands.
        await settle(em, attempt, await stripe.paymentIntents.retrieve(attempt.paymentIntentId));
        return;
      }
      const [row] = await em.execute<Row[]>(
        `select a.stripe_customer_id, a.stripe_payment_method_id, a.auto_recharge_enabled, p.id as pack_id, p.name, p.credits, p.price_cents, p.currency
         from auto_recharge_attempts r join accounts a on a.id = r.account_id join credit_packs p on p.id = r.pack_id where r.id = ?`,
        [attempt.id],
      );
      // Turned off after this attempt was recorded (or while it waited to retry): the card is not charged.
      if (row && row.auto_recharge_enabled !== true) {
        await rechargeFailed(em, attempt.id, 'auto_recharge_disabled', null, { dropped: true });
        log.info({ attemptId: attempt.id, accountId: attempt.accountId }, 'auto-recharge attempt dropped: auto-recharge was turned off');
        return;
      }
      if (!row?.stripe_customer_id || !row.stripe_payment_method_id) {
        await rechargeFailed(em, attempt.id, 'no_saved_card');
        return;
      }
      const intent = await stripe.paymentIntents.create(
        {
          amount: Number(row.price_cents),
          currency: String(row.currency),
          customer: String(row.stripe_customer_id),
          payment_method: String(row.stripe_payment_method_id),
          off_session: true,
          confirm: true,
          description: `Auto-recharge: ${String(row.name)} (${Number(row.credits)} credits)`,
          metadata: { kind: 'auto_recharge', autoRechargeAttemptId: attempt.id, accountId: attempt.accountId, packId: String(row.pack_id) },
        },
        // The same attempt always sends the same key: Stripe answers a retry with the first intent, never a second charge.
        { idempotencyKey: `tally-recharge-${attempt.id}` },
      );
      await later(em, attempt.id, CONFIRMATION_WAIT_SECONDS, intent.id);
      if (intent.status !== 'succeeded' && intent.status !== 'processing') await settle(em, attempt, intent);
    } catch (error) {
      if (isStripeError(error) && error.type === 'StripeCardError') {
        const intentId = (error.raw as { payment_intent?: { id?: string } } | undefined)?.payment_intent?.id ?? null;
        const outcome = await rechargeFailed(em, attempt.id, failureReason(error), intentId);
        log.warn({ attemptId: attempt.id, accountId: attempt.accountId, reason: failureReason(error), outcome }, 'auto-recharge declined');
        return;
      }
      if (isStripeError(error) && error.type === 'StripeInvalidRequestError') {
        await rechargeFailed(em, attempt.id, failureReason(error));
        log.error({ err: error, attemptId: attempt.id }, 'Stripe refused the auto-recharge request');
        return;
      }
      if (attempt.tries >= MAX_TRIES) {
        // Stripe may have taken the payment without our hearing of it: the attempt keeps its slot of the month, so a
        // late confirmation (credited when it comes) never makes one recharge more than the monthly limit.
        await rechargeFailed(em, attempt.id, PROVIDER_UNAVAILABLE, null, { outcomeUnknown: true });
        log.error({ err: error, attemptId: attempt.id }, 'auto-recharge given up: Stripe could not be reached');
        return;
      }
      await later(em, attempt.id, 15 * 2 ** attempt.tries);
      log.warn({ err: error, attemptId: attempt.id, tries: attempt.tries }, 'auto-recharge: Stripe could not be reached; trying again');
    }
  };

  const runOnce = async () => {
    const em = orm.em.fork();
    let handled = 0;
    for (;;) {
      const claimed = await claim(em, 20);
      for (const attempt of claimed) {
        await send(orm.em.fork(), attempt).catch((error: unknown) => log.error({ err: error, attemptId: attempt.id }, 'auto-recharge attempt failed unexpectedly'));
      }
      handled += claimed.length;
      if (claimed.length < 20) return handled;
    }
  };

  const schedule = () => {
    if (stopped || options.intervalMs <= 0) return;
    timer = setTimeout(() => {
      running = runOnce()
        .catch((error: unknown) => {
          log.error({ err: error }, 'auto-recharge worker failed; retrying next interval');
          return 0;
        })
        .finally(() => {
          running = undefined;
          schedule();
        });
    }, options.intervalMs);
    timer.unref();
  };
  schedule();

  return {
    runOnce,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
