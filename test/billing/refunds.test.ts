import { describe, expect, it } from '@jest/globals';
import { ConsumeCreditsDocument, GrantCreditsDocument, RefundCreditsDocument } from '../generated/graphql.js';
import { ADMIN, checkout, deliver, stripeEvent, useBilling } from '../support/billing.js';
import { errorOf } from '../support/errors.js';
import { balanceOf, ledgerRows, writeCounts } from '../support/ledger.js';
import { uniqueSub, userIdOf } from '../support/subjects.js';

describe('refunds', () => {
  const billing = useBilling();

  /** A user who bought the small pack (10 credits for $10.00) and whose payment Stripe confirmed. */
  async function completedPurchase(label: string) {
    const { server, stripe } = billing;
    const sub = uniqueSub(label);
    const userId = await userIdOf(server, sub);
    const session = await checkout(server, sub);
    const paid = stripe.completeSession(session.id, 'paid');
    const answer = await deliver(server, stripeEvent('checkout.session.completed', paid));
    expect(answer.body?.outcome).toBe('credited');
    return { sub, userId, transactionId: session.transaction!.id, paymentIntentId: paid.payment_intent as string };
  }

  const refundRows = async (userId: string) => (await ledgerRows(billing.server, userId)).filter((r) => r.type === 'refund');

  it('reverses partial refunds cumulatively, and ignores a stale notice', async () => {
    const { server, stripe } = billing;
    const purchase = await completedPurchase('partial');

    // $2.50 of $10.00: floor(10 * 250 / 1000) = 2 credits.
    const first = stripeEvent('charge.refunded', stripe.refundInDashboard(purchase.paymentIntentId, 250));
    expect((await deliver(server, first)).body?.outcome).toBe('refunded');
    expect(await balanceOf(server, purchase.userId)).toBe(8);

    // $5.00 more, $7.50 in all: floor(7.5) = 7 credits in all, so 5 more.
    const second = stripeEvent('charge.refunded', stripe.refundInDashboard(purchase.paymentIntentId, 500));
    expect((await deliver(server, second)).body?.outcome).toBe('refunded');
    expect(await balanceOf(server, purchase.userId)).toBe(3);

    // The first notice again under a new event id (Stripe's order is not guaranteed): nothing more to reverse.
    const stale = stripeEvent('charge.refunded', first.data.object);
    expect((await deliver(server, stale)).body?.outcome).toBe('already-refunded');

    const refunds = await refundRows(purchase.userId);
    expect(refunds.map((r) => [r.amount, r.credits_reversed, r.refund_of_id])).toEqual([
      [-2, 2, purchase.transactionId],
      [-5, 5, purchase.transactionId],
    ]);
    expect(refunds.map((r) => r.metadata?.refundedCreditsTotal)).toEqual([2, 7]);
    expect(refunds.map((r) => r.balance_after)).toEqual([8, 3]);
    expect(await balanceOf(server, purchase.userId)).toBe(3);
  });

  it('never takes the balance below zero, and records what it could not recover', async () => {
    const { server, stripe } = billing;
    const purchase = await completedPurchase('spent');
    const spent = await server.as(purchase.sub).execute(ConsumeCreditsDocument, { input: { amount: 8, feature: 'chat', idempotencyKey: 'spend-8' } });
    expect(spent.errors).toBeUndefined();
    expect(await balanceOf(server, purchase.userId)).toBe(2);

    const answer = await deliver(server, stripeEvent('charge.refunded', stripe.refundInDashboard(purchase.paymentIntentId)));
    expect(answer.body?.outcome).toBe('refunded');
    const [refund] = await refundRows(purchase.userId);
    expect(refund).toMatchObject({ amount: -2, balance_after: 0, credits_reversed: 10 });
    expect(refund!.metadata).toMatchObject({ unrecoveredCredits: 8, refundedCreditsTotal: 10 });
    expect(await balanceOf(server, purchase.userId)).toBe(0);

    // Credits bought later are not clawed back by a redelivered notice.
    await server.as(ADMIN).execute(GrantCreditsDocument, { input: { userId: purchase.userId, amount: 5, reason: 'goodwill', idempotencyKey: 'gw' } });
    const again = await deliver(server, stripeEvent('charge.refunded', stripe.chargeFor(purchase.paymentIntentId)));
    expect(again.body?.outcome).toBe('already-refunded');
    expect(await balanceOf(server, purchase.userId)).toBe(5);
  });

  it('refunds in Stripe and reverses once when an admin refunds and the charge.refunded webhook follows', async () => {
    const { server, stripe } = billing;
    const purchase = await completedPurchase('admin');
    const res = await server.as(ADMIN).execute(RefundCreditsDocument, { input: { transactionId: purchase.transactionId, reason: 'Customer asked' } });
    expect(res.errors).toBeUndefined();
    expect(res.data!.refundCredits).toMatchObject({ type: 'REFUND', status: 'COMPLETED', amount: -10, balanceAfter: 0, description: 'Customer asked' });

    const [refundCall] = stripe.requestsTo('POST', '/v1/refunds').filter((r) => r.body.payment_intent === purchase.paymentIntentId);
    expect(refundCall).toMatchObject({ status: 200, idempotencyKey: `tally-refund-${purchase.transactionId}` });
    expect(stripe.chargeFor(purchase.paymentIntentId)).toMatchObject({ amount_refunded: 1000, refunded: true });

    const webhook = await deliver(server, stripeEvent('charge.refunded', stripe.chargeFor(purchase.paymentIntentId)));
    expect(webhook.body?.outcome).toBe('already-refunded');
    expect(await refundRows(purchase.userId)).toHaveLength(1);
    expect(await balanceOf(server, purchase.userId)).toBe(0);

    // Asked again: the same reversal, and Stripe's idempotency returns the same refund.
    const again = await server.as(ADMIN).execute(RefundCreditsDocument, { input: { transactionId: purchase.transactionId, reason: 'Customer asked' } });
    expect(again.data!.refundCredits.id).toBe(res.data!.refundCredits.id);
    expect(stripe.refunds.filter((r) => r.payment_intent === purchase.paymentIntentId)).toHaveLength(1);
  });

  it('reverses once when the admin refund and the webhook race', async () => {
    const { server, stripe } = billing;
    const purchase = await completedPurchase('race');
    // The charge as it will look once refunded, delivered while the admin's refund is still being written.
    const refunded = { ...stripe.chargeFor(purchase.paymentIntentId), amount_refunded: 1000, refunded: true };
    const [admin, ...webhooks] = await Promise.all([
      server.as(ADMIN).execute(RefundCreditsDocument, { input: { transactionId: purchase.transactionId, reason: 'race' } }),
      deliver(server, stripeEvent('charge.refunded', refunded)),
      deliver(server, stripeEvent('charge.refunded', refunded)),
    ]);
    expect(admin.errors).toBeUndefined();
    expect(admin.data!.refundCredits).toMatchObject({ type: 'REFUND' });
    expect(webhooks.map((w) => w.status)).toEqual([200, 200]);
    const refunds = await refundRows(purchase.userId);
    expect(refunds).toHaveLength(1);
    expect(refunds[0]!.credits_reversed).toBe(10);
    expect(await balanceOf(server, purchase.userId)).toBe(0);
  });

  it('refunds the rest in Stripe and in credits after a partial dashboard refund', async () => {
    const { server, stripe } = billing;
    const purchase = await completedPurchase('rest');
    await deliver(server, stripeEvent('charge.refunded', stripe.refundInDashboard(purchase.paymentIntentId, 300)));
    expect(await balanceOf(server, purchase.userId)).toBe(7);

    const res = await server.as(ADMIN).execute(RefundCreditsDocument, { input: { transactionId: purchase.transactionId, reason: 'the rest' } });
    expect(res.data!.refundCredits).toMatchObject({ amount: -7, balanceAfter: 0 });
    expect(stripe.refunds.filter((r) => r.payment_intent === purchase.paymentIntentId).map((r) => r.amount)).toEqual([300, 700]);
  });

  it('finishes the reversal when Stripe says the payment was refunded already', async () => {
    const { server, stripe } = billing;
    const purchase = await completedPurchase('already');
    stripe.refundInDashboard(purchase.paymentIntentId); // and its webhook has not arrived yet
    const res = await server.as(ADMIN).execute(RefundCreditsDocument, { input: { transactionId: purchase.transactionId, reason: 'dashboard' } });
    expect(res.errors).toBeUndefined();
    expect(res.data!.refundCredits).toMatchObject({ amount: -10 });
    expect(stripe.requestsTo('POST', '/v1/refunds').at(-1)!.status).toBe(400);
    expect(await balanceOf(server, purchase.userId)).toBe(0);
  });

  it('keeps the credits when Stripe refuses the refund', async () => {
    const { server, stripe } = billing;
    const purchase = await completedPurchase('refused');
    stripe.fail({ method: 'POST', path: '/v1/refunds', status: 400, type: 'invalid_request_error', message: 'Balance too low' });
    const res = await server.as(ADMIN).execute(RefundCreditsDocument, { input: { transactionId: purchase.transactionId, reason: 'x' } });
    expect(errorOf(res)?.code).toBe('PAYMENT_PROVIDER_ERROR');
    expect(res.errors?.[0]?.message).not.toContain('Balance too low');
    expect(await refundRows(purchase.userId)).toEqual([]);
    expect(await balanceOf(server, purchase.userId)).toBe(10);
  });

  it('refuses what is not a completed purchase, and non-admins', async () => {
    const { server } = billing;
    const purchase = await completedPurchase('errors');
    const refund = (transactionId: string, as = ADMIN) =>
      server.as(as).execute(RefundCreditsDocument, { input: { transactionId, reason: 'test' } });

    expect(errorOf(await refund(purchase.transactionId, purchase.sub))?.code).toBe('FORBIDDEN');
    expect(errorOf(await refund('ctx_doesnotexist00000000000'))?.code).toBe('NOT_FOUND');
    expect(errorOf(await refund('not-an-id'))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.transactionId' });

    const grant = await server.as(ADMIN).execute(GrantCreditsDocument, { input: { userId: purchase.userId, amount: 1, reason: 'g', idempotencyKey: 'g-err' } });
    expect(errorOf(await refund(grant.data!.grantCredits.id))?.code).toBe('NOT_FOUND');

    const pending = await checkout(server, purchase.sub);
    expect(errorOf(await refund(pending.transaction!.id))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.transactionId' });

    const blankReason = await server.as(ADMIN).execute(RefundCreditsDocument, { input: { transactionId: purchase.transactionId, reason: '  ' } });
    expect(errorOf(blankReason)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.reason' });

    expect(await refundRows(purchase.userId)).toEqual([]);
    expect(await balanceOf(server, purchase.userId)).toBe(11);
  });

  it('answers 200 and writes nothing for a refund of a payment it does not know', async () => {
    const { server, stripe } = billing;
    const outside = stripe.createPaidSession({ metadata: {} });
    const before = await writeCounts(server);
    const answer = await deliver(server, stripeEvent('charge.refunded', stripe.refundInDashboard(outside.payment_intent as string)));
    expect(answer.status).toBe(200);
    expect(await writeCounts(server)).toEqual(before);
  });

  describe('a refund notice that arrives before its session\'s checkout.session.completed', () => {
    /** A purchase paid in Stripe whose completed event has not been delivered (Stripe does not order deliveries). */
    async function paidButNotDelivered(label: string) {
      const { server, stripe } = billing;
      const sub = uniqueSub(label);
      const userId = await userIdOf(server, sub);
      const session = await checkout(server, sub);
      const paid = stripe.completeSession(session.id, 'paid');
      return { userId, transactionId: session.transaction!.id, paymentIntentId: paid.payment_intent as string, completed: stripeEvent('checkout.session.completed', paid) };
    }

    it('credits the session from Stripe first, then reverses; the late completed event changes nothing', async () => {
      const { server, stripe } = billing;
      const purchase = await paidButNotDelivered('early-refund');
      expect(await balanceOf(server, purchase.userId)).toBe(0);

      const refund = await deliver(server, stripeEvent('charge.refunded', stripe.refundInDashboard(purchase.paymentIntentId, 250)));
      expect(refund).toMatchObject({ status: 200, body: { outcome: 'refunded' } });
      expect(stripe.requestsTo('GET', '/v1/checkout/sessions').at(-1)?.body).toMatchObject({ payment_intent: purchase.paymentIntentId });
      const rows = await ledgerRows(server, purchase.userId);
      expect(rows.map((r) => [r.type, r.status, r.amount, r.balance_after])).toEqual([
        ['purchase', 'completed', 10, 10],
        ['refund', 'completed', -2, 8],
      ]);
      expect(rows[0]).toMatchObject({ id: purchase.transactionId, stripe_payment_intent_id: purchase.paymentIntentId });
      expect(rows[1]).toMatchObject({ refund_of_id: purchase.transactionId, credits_reversed: 2 });

      const late = await deliver(server, purchase.completed);
      expect(late.body?.outcome).toBe('already-credited');
      const rest = await deliver(server, stripeEvent('charge.refunded', stripe.refundInDashboard(purchase.paymentIntentId)));
      expect(rest.body?.outcome).toBe('refunded');
      expect(await balanceOf(server, purchase.userId)).toBe(0);
      expect(await ledgerRows(server, purchase.userId)).toHaveLength(3);
    });

    it('answers 5xx and writes nothing while Stripe cannot be asked, then applies the retry once', async () => {
      const { server, stripe } = billing;
      const purchase = await paidButNotDelivered('early-refund-down');
      const notice = stripeEvent('charge.refunded', stripe.refundInDashboard(purchase.paymentIntentId));
      stripe.fail({ method: 'GET', path: '/v1/checkout/sessions', status: 500 });
      const before = await writeCounts(server);
      try {
        expect((await deliver(server, notice)).status).toBe(500);
        expect(await writeCounts(server)).toEqual(before);
      } finally {
        stripe.clearFailures();
      }
      const retried = await Promise.all([deliver(server, notice), deliver(server, notice)]);
      expect(retried.map((r) => r.status)).toEqual([200, 200]);
      // Whichever runs second finds the event recorded, or (inside) the purchase reversed already.
      expect(retried.map((r) => r.body?.outcome)).toContain('refunded');
      for (const answer of retried) expect(['refunded', 'already-refunded']).toContain(answer.body?.outcome);
      const rows = await ledgerRows(server, purchase.userId);
      expect(rows.map((r) => [r.type, r.amount])).toEqual([
        ['purchase', 10],
        ['refund', -10],
      ]);
      expect(await balanceOf(server, purchase.userId)).toBe(0);
      expect((await deliver(server, purchase.completed)).body?.outcome).toBe('already-credited');
      expect(await balanceOf(server, purchase.userId)).toBe(0);
    });

    it('writes nothing for a refund of a session it had written off as FAILED, and says why', async () => {
      const { server, stripe } = billing;
      const sub = uniqueSub('early-refund-failed');
      await userIdOf(server, sub);
      const session = await checkout(server, sub);
      expect((await deliver(server, stripeEvent('checkout.session.expired', stripe.expireSession(session.id)))).body?.outcome).toBe('failed');
      const paid = stripe.completeSession(session.id, 'paid');
      const before = await writeCounts(server);
      const answer = await deliver(server, stripeEvent('charge.refunded', stripe.refundInDashboard(paid.payment_intent as string)));
      expect(answer).toMatchObject({ status: 200, body: { outcome: 'unknown-payment' } });
      expect(await writeCounts(server)).toEqual(before);
    });
  });
});
