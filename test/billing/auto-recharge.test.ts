import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createStripeClient } from '../../src/billing/stripe.js';
import { startRechargeWorker, type RechargeWorker } from '../../src/billing/recharge-worker.js';
import { createLogger } from '../../src/logger.js';
import { ConfigureAutoRechargeDocument, ConsumeCreditsDocument, GrantCreditsDocument, MyAlertsDocument } from '../generated/graphql.js';
import { ADMIN, checkout, deliver, deliverStorm, PACKS, stripeEvent, useBilling } from '../support/billing.js';
import { key } from '../support/credits.js';
import { codesOf, errorOf } from '../support/errors.js';
import { balanceOf, ledgerRows } from '../support/ledger.js';
import { uniqueSub, userIdOf } from '../support/subjects.js';

/**
 * Auto-recharge end to end: the real server and Stripe SDK against the stand-in, the recharge worker run by hand (its
 * loop is off in tests), Stripe's confirmations as signed webhook events. Never a charge twice, never credits before
 * Stripe confirms, one attempt in flight, the back-off after failures and the monthly limit.
 */
describe('auto-recharge', () => {
  const billing = useBilling();
  let worker: RechargeWorker;
  beforeAll(() => {
    worker = startRechargeWorker({
      orm: billing.server.orm,
      stripe: createStripeClient(billing.server.config.stripe),
      log: createLogger('silent'),
      intervalMs: 0,
      ledger: { workshopCreditCost: 1 },
    });
  });
  afterAll(() => worker.stop());

  const spend = (sub: string, amount: number) => billing.server.as(sub).execute(ConsumeCreditsDocument, { input: { amount, feature: 'chat', idempotencyKey: key('spend') } });
  const configure = (sub: string, input: { enabled: boolean; threshold?: number; packId?: string; monthlyLimit?: number }) =>
    billing.server.as(sub).execute(ConfigureAutoRechargeDocument, { input });
  const attempts = async (accountId: string) =>
    (
      await billing.server.sql.query<{ id: string; status: string; failure_reason: string | null; stripe_payment_intent_id: string | null }>(
        'select id, status, failure_reason, stripe_payment_intent_id from auto_recharge_attempts where account_id = $1 order by created_at',
        [accountId],
      )
    ).rows;
  const eventTypes = async (accountId: string) =>
    (await billing.server.sql.query<{ type: string }>(`select type from events where account_id = $1 and type like 'auto_recharge.%' order by seq`, [accountId])).rows.map(
      (row) => row.type,
    );
  const intentsOf = (customer: string) => [...billing.stripe.payments.paymentIntents.values()].filter((intent) => intent.customer === customer);
  /** Lets the back-off pass (as if the hours went by). */
  const skipBackoff = (accountId: string) => billing.server.sql.query(`update accounts set auto_recharge_not_before = now() - interval '1 second' where id = $1`, [accountId]);

  /** A user who bought the small pack (10 credits, $10) through Checkout, which saved their card. */
  async function buyer(label: string) {
    const { server, stripe } = billing;
    const sub = uniqueSub(label);
    const userId = await userIdOf(server, sub);
    const session = await checkout(server, sub);
    const paid = stripe.completeSession(session.id, 'paid');
    expect((await deliver(server, stripeEvent('checkout.session.completed', paid))).body?.outcome).toBe('credited');
    const customer = String(paid.customer);
    const card = [...stripe.payments.paymentMethods.values()].find((method) => method.customer === customer)!;
    return { sub, userId, customer, card: String(card.id) };
  }

  const succeeded = (intentId: string) => stripeEvent('payment_intent.succeeded', { ...billing.stripe.payments.paymentIntents.get(intentId)!, status: 'succeeded' });

  it('needs a saved card and valid settings to turn on', async () => {
    const sub = uniqueSub('no_card');
    const res = await configure(sub, { enabled: true, threshold: 5, packId: PACKS.small.id, monthlyLimit: 3 });
    expect(codesOf(res)).toEqual(['PAYMENT_METHOD_REQUIRED']);
    expect(res.errors![0]!.message).toMatch(/saved card/);
    const { sub: owner } = await buyer('settings');
    expect(errorOf(await configure(owner, { enabled: true, threshold: 5, packId: 'pack_nope', monthlyLimit: 3 }))).toMatchObject({ field: 'input.packId' });
    expect(errorOf(await configure(owner, { enabled: true, threshold: -1, packId: PACKS.small.id, monthlyLimit: 3 }))).toMatchObject({ field: 'input.threshold' });
    expect(errorOf(await configure(owner, { enabled: true, threshold: 5, packId: PACKS.small.id, monthlyLimit: 0 }))).toMatchObject({ field: 'input.monthlyLimit' });
    expect(errorOf(await configure(owner, { enabled: true, packId: PACKS.small.id, monthlyLimit: 1 }))).toMatchObject({ field: 'input.threshold' });
    const on = await configure(owner, { enabled: true, threshold: 5, packId: PACKS.small.id, monthlyLimit: 3 });
    expect(on.data!.configureAutoRecharge).toMatchObject({ enabled: true, threshold: 5, pack: { id: PACKS.small.id }, monthlyLimit: 3, usedThisMonth: 0, lastAttempt: null });
  });

  it('records one attempt with the crossing, charges off-session once, and credits only when Stripe confirms, once', async () => {
    const { server, stripe } = billing;
    const { sub, userId, customer, card } = await buyer('success');
    await configure(sub, { enabled: true, threshold: 5, packId: PACKS.small.id, monthlyLimit: 3 });
    await spend(sub, 6); // 10 -> 4: under 5
    await spend(sub, 1); // still under, but one is in flight already
    expect((await attempts(userId)).map((attempt) => attempt.status)).toEqual(['pending']);

    expect(await worker.runOnce()).toBe(1);
    const [intent] = intentsOf(customer);
    expect(intent).toMatchObject({ amount: 1000, currency: 'usd', payment_method: card, off_session_requested: 'true', confirm_requested: 'true' });
    const [request] = stripe.requestsTo('POST', '/v1/payment_intents').filter((r) => r.body.customer === customer);
    expect(request!.idempotencyKey).toBe(`tally-recharge-${(await attempts(userId))[0]!.id}`);
    expect(await balanceOf(server, userId)).toBe(3); // nothing before Stripe's confirmation

    // The confirmation, redelivered and twinned, three at a time.
    const event = succeeded(String(intent!.id));
    const twin = succeeded(String(intent!.id));
    const answers = await deliverStorm(server, [event, twin], { copies: 5, concurrency: 3, seed: 7 });
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(await balanceOf(server, userId)).toBe(13);
    const purchases = (await ledgerRows(server, userId)).filter((row) => row.type === 'purchase' && row.status === 'completed');
    expect(purchases).toHaveLength(2); // the Checkout purchase and the recharge
    expect(purchases[1]).toMatchObject({ amount: 10, stripe_payment_intent_id: intent!.id });
    expect(await attempts(userId)).toEqual([expect.objectContaining({ status: 'succeeded', stripe_payment_intent_id: intent!.id })]);
    expect(await eventTypes(userId)).toEqual(['auto_recharge.succeeded']);
    const me = (await server.as(sub).execute(MyAlertsDocument)).data!.me;
    expect(me.autoRecharge).toMatchObject({ enabled: true, usedThisMonth: 1, lastAttempt: { status: 'SUCCEEDED', reason: null }, nextAttemptNotBefore: null });

    // The worker's next pass finds nothing to do, and asks Stripe for nothing.
    expect(await worker.runOnce()).toBe(0);
    expect(intentsOf(customer)).toHaveLength(1);
  });

  it('a retried call after a lost answer sends the same idempotency key: Stripe answers with the same payment', async () => {
    const { server, stripe } = billing;
    const { sub, userId, customer } = await buyer('lost_answer');
    await configure(sub, { enabled: true, threshold: 5, packId: PACKS.small.id, monthlyLimit: 3 });
    await spend(sub, 6);
    await worker.runOnce();
    // As if the worker died before recording Stripe's answer: its lease lapses with no payment intent recorded.
    await server.sql.query(`update auto_recharge_attempts set stripe_payment_intent_id = null, next_try_at = now() - interval '1 second' where account_id = $1`, [userId]);
    await worker.runOnce();
    expect(intentsOf(customer)).toHaveLength(1);
    expect(stripe.requestsTo('POST', '/v1/payment_intents').filter((r) => r.body.customer === customer).map((r) => r.replayed)).toEqual([false, true]);
    const [attempt] = await attempts(userId);
    expect(attempt!.stripe_payment_intent_id).toBe(intentsOf(customer)[0]!.id);
  });

  it('a decline fails the attempt with its reason and backs off 1 h, 6 h, 24 h; the fourth failure turns it off; a failing card is never charged on every request', async () => {
    const { server, stripe } = billing;
    const { sub, userId, customer, card } = await buyer('declines');
    await configure(sub, { enabled: true, threshold: 5, packId: PACKS.small.id, monthlyLimit: 10 });
    stripe.payments.setBehaviour(card, 'declines');
    const hoursAway = async () => {
      const notBefore = (await server.as(sub).execute(MyAlertsDocument)).data!.me.autoRecharge.nextAttemptNotBefore;
      return Math.round((new Date(notBefore as string).getTime() - Date.now()) / 3_600_000);
    };

    await spend(sub, 6); // 4
    await worker.runOnce();
    expect((await attempts(userId)).map((a) => [a.status, a.failure_reason])).toEqual([['failed', 'card_declined: insufficient_funds']]);
    expect(await hoursAway()).toBe(1);
    // Spending on during the back-off starts nothing.
    for (let i = 0; i < 3; i++) await spend(sub, 1);
    await worker.runOnce();
    expect(intentsOf(customer)).toHaveLength(1);

    for (const hours of [6, 24]) {
      await skipBackoff(userId);
      await grantAndSpend(userId, sub);
      await worker.runOnce();
      expect(await hoursAway()).toBe(hours);
    }
    await skipBackoff(userId);
    await grantAndSpend(userId, sub);
    await worker.runOnce();
    const me = (await server.as(sub).execute(MyAlertsDocument)).data!.me;
    expect(me.autoRecharge).toMatchObject({ enabled: false, lastAttempt: { status: 'FAILED', reason: 'card_declined: insufficient_funds' } });
    expect(await eventTypes(userId)).toEqual(['auto_recharge.failed', 'auto_recharge.failed', 'auto_recharge.failed', 'auto_recharge.failed', 'auto_recharge.disabled']);
    await skipBackoff(userId);
    await grantAndSpend(userId, sub);
    await worker.runOnce();
    expect(intentsOf(customer)).toHaveLength(4);
    expect(await balanceOf(server, userId)).toBeLessThan(5);
  });

  /** Spending that leaves the balance under the threshold again (a grant first if it is already at the bottom). */
  async function grantAndSpend(userId: string, sub: string) {
    const balance = await balanceOf(billing.server, userId);
    if (balance < 2) {
      await billing.server.as(ADMIN).execute(GrantCreditsDocument, { input: { userId, amount: 3, reason: 'Top up for the test', idempotencyKey: key('g') } });
    }
    const res = await spend(sub, 1);
    expect(res.errors).toBeUndefined();
  }

  it('3-D Secure off-session (authentication_required) fails the attempt, with that reason', async () => {
    const { stripe } = billing;
    const { sub, userId, card } = await buyer('three_ds');
    await configure(sub, { enabled: true, threshold: 5, packId: PACKS.small.id, monthlyLimit: 3 });
    stripe.payments.setBehaviour(card, 'requires_action');
    await spend(sub, 6);
    await worker.runOnce();
    expect((await attempts(userId)).map((a) => [a.status, a.failure_reason])).toEqual([['failed', 'authentication_required']]);
    expect(await eventTypes(userId)).toEqual(['auto_recharge.failed']);
    expect(await balanceOf(billing.server, userId)).toBe(4);
  });

  it('never goes past the monthly limit', async () => {
    const { server } = billing;
    const { sub, userId, customer } = await buyer('monthly');
    await configure(sub, { enabled: true, threshold: 5, packId: PACKS.small.id, monthlyLimit: 1 });
    await spend(sub, 6);
    await worker.runOnce();
    await deliver(server, succeeded(String(intentsOf(customer)[0]!.id)));
    expect(await balanceOf(server, userId)).toBe(14);
    await spend(sub, 10); // 4: under again, but the month's one recharge is used
    await worker.runOnce();
    expect(await attempts(userId)).toHaveLength(1);
    expect(intentsOf(customer)).toHaveLength(1);
    expect((await server.as(sub).execute(MyAlertsDocument)).data!.me.autoRecharge).toMatchObject({ usedThisMonth: 1, monthlyLimit: 1 });
  });

  it('turning auto-recharge off stops an attempt not yet sent: the card is not charged', async () => {
    const { server } = billing;
    const { sub, userId, customer } = await buyer('turned_off');
    await configure(sub, { enabled: true, threshold: 5, packId: PACKS.small.id, monthlyLimit: 3 });
    await spend(sub, 6);
    expect((await attempts(userId)).map((attempt) => attempt.status)).toEqual(['pending']);
    expect((await configure(sub, { enabled: false })).errors).toBeUndefined();
    await worker.runOnce();
    expect(intentsOf(customer)).toEqual([]);
    expect(await attempts(userId)).toEqual([expect.objectContaining({ status: 'failed', failure_reason: 'auto_recharge_disabled', stripe_payment_intent_id: null })]);
    expect(await balanceOf(server, userId)).toBe(4);
    expect((await server.as(sub).execute(MyAlertsDocument)).data!.me.autoRecharge).toMatchObject({ enabled: false, usedThisMonth: 0, nextAttemptNotBefore: null });
    // No failure counts against the card: turned on again, the next crossing tries at once.
    const { rows } = await server.sql.query<{ auto_recharge_failures: number }>('select auto_recharge_failures from accounts where id = $1', [userId]);
    expect(rows[0]!.auto_recharge_failures).toBe(0);
  });

  it('an attempt given up on because Stripe could not be reached keeps its slot of the month', async () => {
    const { server, stripe } = billing;
    const { sub, userId } = await buyer('unreachable');
    await configure(sub, { enabled: true, threshold: 5, packId: PACKS.small.id, monthlyLimit: 1 });
    await spend(sub, 6);
    // As if four tries had already met a Stripe that could not be reached: this one is the last.
    await server.sql.query('update auto_recharge_attempts set tries = 4 where account_id = $1', [userId]);
    stripe.fail({ method: 'POST', path: '/v1/payment_intents', status: 500, type: 'api_error', message: 'Stripe is down', shouldRetry: false });
    try {
      await worker.runOnce();
    } finally {
      stripe.clearFailures();
    }
    expect(await attempts(userId)).toEqual([expect.objectContaining({ status: 'failed', failure_reason: 'provider_unavailable' })]);
    // Whether Stripe charged the card is unknown, so its confirmation may still come: the month's one recharge is
    // counted as taken, and no second attempt can charge the card again this month.
    expect((await server.as(sub).execute(MyAlertsDocument)).data!.me.autoRecharge).toMatchObject({ usedThisMonth: 1, monthlyLimit: 1 });
    await skipBackoff(userId);
    await spend(sub, 1);
    await worker.runOnce();
    expect(await attempts(userId)).toHaveLength(1);
  });

  it('with 20 clients crossing the threshold at once, one attempt', async () => {
    const { server } = billing;
    const { sub, userId } = await buyer('concurrent');
    await configure(sub, { enabled: true, threshold: 8, packId: PACKS.small.id, monthlyLimit: 5 });
    const answers = await Promise.all(Array.from({ length: 10 }, () => spend(sub, 1)));
    expect(answers.filter((answer) => answer.errors)).toEqual([]);
    expect(await attempts(userId)).toHaveLength(1);
    expect(await balanceOf(server, userId)).toBe(0);
  });

  it('payment_intent.payment_failed fails an attempt Stripe was asked for; a late success still credits once', async () => {
    const { server } = billing;
    const { sub, userId, customer } = await buyer('late');
    await configure(sub, { enabled: true, threshold: 5, packId: PACKS.small.id, monthlyLimit: 3 });
    await spend(sub, 6);
    await worker.runOnce();
    const intent = intentsOf(customer)[0]!;
    const failed = stripeEvent('payment_intent.payment_failed', { ...intent, status: 'requires_payment_method', last_payment_error: { code: 'card_declined', decline_code: 'lost_card' } });
    expect((await deliver(server, failed)).body?.outcome).toBe('recharge-failed');
    expect((await attempts(userId))[0]).toMatchObject({ status: 'failed', failure_reason: 'card_declined: lost_card' });
    // Stripe later reports the money arrived after all: the credits are owed, once.
    await deliver(server, succeeded(String(intent.id)));
    await deliver(server, succeeded(String(intent.id)));
    expect(await balanceOf(server, userId)).toBe(14);
    expect((await attempts(userId))[0]).toMatchObject({ status: 'succeeded' });
  });
});
