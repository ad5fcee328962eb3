import { describe, expect, it } from '@jest/globals';
import { CaptureReservationDocument, ConsumeCreditsDocument, RefundCreditsDocument, ReleaseReservationDocument, ReserveCreditsDocument } from '../generated/graphql.js';
import { ADMIN, checkout, deliver, deliverStorm, PACKS, stripeEvent, useBilling, type StripeEventPayload } from '../support/billing.js';
import { errorOf } from '../support/errors.js';
import { accountOf, creditProblems, ledgerRows } from '../support/ledger.js';
import { uniqueSub, userIdOf } from '../support/subjects.js';

/** Refunds and disputes always win over holds: what they take back can never be spent, held or not. */
describe('reversals win over holds', () => {
  const billing = useBilling({ ADMIN_USER_IDS: ADMIN });

  /** A user who bought the 50-credit pack ($40.00) and whose payment Stripe confirmed. */
  async function buyer(label: string) {
    const { server, stripe } = billing;
    const sub = uniqueSub(label);
    const userId = await userIdOf(server, sub);
    const session = await checkout(server, sub, PACKS.priced.id);
    const paid = stripe.completeSession(session.id, 'paid');
    expect((await deliver(server, stripeEvent('checkout.session.completed', paid))).body?.outcome).toBe('credited');
    return { sub, userId, purchaseId: session.transaction!.id, paymentIntentId: paid.payment_intent as string };
  }

  const reserve = (sub: string, amount: number, key: string) =>
    billing.server.as(sub).execute(ReserveCreditsDocument, { input: { amount, feature: 'llm.run', idempotencyKey: key, ttlSeconds: 3600 } });

  it('a refund of a fully reserved purchase takes the credits from the hold: nothing is left to spend after the release', async () => {
    const { server } = billing;
    const user = await buyer('held-refund');
    const hold = await reserve(user.sub, 50, 'all-of-it');
    expect(hold.data?.reserveCredits.status).toBe('HELD');

    const refund = await server.as(ADMIN).execute(RefundCreditsDocument, { input: { transactionId: user.purchaseId, reason: 'Customer asked' } });
    expect(refund.errors).toBeUndefined();
    expect(refund.data?.refundCredits).toMatchObject({ type: 'REFUND', amount: -50, balanceAfter: 0 });
    expect(await accountOf(server, user.userId)).toEqual({ balance: 0, held: 0, expiring: 0 });

    // The hold records what the refund took, and can capture nothing of it.
    const capture = await server.as(user.sub).execute(CaptureReservationDocument, { id: hold.data!.reserveCredits.id, amount: 1 });
    expect(errorOf(capture)?.code).toBe('BAD_USER_INPUT');
    const released = await server.as(user.sub).execute(ReleaseReservationDocument, { id: hold.data!.reserveCredits.id });
    expect(released.data?.releaseReservation).toMatchObject({ status: 'RELEASED', amount: 0, reversedAmount: 50 });
    const spend = await server.as(user.sub).execute(ConsumeCreditsDocument, { input: { amount: 1, feature: 'chat', idempotencyKey: 'after' } });
    expect(errorOf(spend)?.code).toBe('INSUFFICIENT_CREDITS');
    expect(await creditProblems(server, user.userId)).toEqual([]);
  });

  it('takes spendable credits first, then holds newest first; a capture charges at most what its hold still backs', async () => {
    const { server, stripe } = billing;
    const user = await buyer('partial-holds');
    const older = await reserve(user.sub, 20, 'older');
    const newer = await reserve(user.sub, 25, 'newer');
    // 50 credits: 45 held, 5 spendable. A refund of $32.00 of $40.00 is 40 credits: 5 spendable, 25 newer, 10 older.
    const event = stripeEvent('charge.refunded', stripe.refundInDashboard(user.paymentIntentId, 3200));
    expect((await deliver(server, event)).body?.outcome).toBe('refunded');
    expect(await accountOf(server, user.userId)).toEqual({ balance: 10, held: 10, expiring: 0 });
    const [row] = (await ledgerRows(server, user.userId)).filter((r) => r.type === 'refund');
    expect(row).toMatchObject({ amount: -40, credits_reversed: 40, metadata: expect.objectContaining({ unrecoveredCredits: 0, takenFromHolds: 35 }) });

    const { rows } = await server.sql.query('select id, amount, reversed_amount from reservations where account_id = $1 order by created_at', [user.userId]);
    expect(rows).toEqual([
      { id: older.data!.reserveCredits.id, amount: 10, reversed_amount: 10 },
      { id: newer.data!.reserveCredits.id, amount: 0, reversed_amount: 25 },
    ]);
    const tooMuch = await server.as(user.sub).execute(CaptureReservationDocument, { id: older.data!.reserveCredits.id, amount: 11 });
    expect(errorOf(tooMuch)?.code).toBe('BAD_USER_INPUT');
    const captured = await server.as(user.sub).execute(CaptureReservationDocument, { id: older.data!.reserveCredits.id, amount: 10 });
    expect(captured.data?.captureReservation).toMatchObject({ status: 'CAPTURED', capturedAmount: 10, reversedAmount: 10 });
    expect(await accountOf(server, user.userId)).toEqual({ balance: 0, held: 0, expiring: 0 });
    expect(await creditProblems(server, user.userId)).toEqual([]);
  });
});

describe('disputes', () => {
  const billing = useBilling({ ADMIN_USER_IDS: ADMIN });

  async function buyer(label: string) {
    const { server, stripe } = billing;
    const sub = uniqueSub(label);
    const userId = await userIdOf(server, sub);
    const session = await checkout(server, sub, PACKS.priced.id);
    const paid = stripe.completeSession(session.id, 'paid');
    expect((await deliver(server, stripeEvent('checkout.session.completed', paid))).body?.outcome).toBe('credited');
    return { sub, userId, purchaseId: session.transaction!.id, paymentIntentId: paid.payment_intent as string };
  }

  const rowsOfType = async (userId: string, ...types: string[]) => (await ledgerRows(billing.server, userId)).filter((r) => types.includes(r.type));

  it('a dispute reverses the disputed share; won, it is given back as a DISPUTE_WON row', async () => {
    const { server, stripe } = billing;
    const user = await buyer('dispute-won');
    const dispute = stripe.openDispute(user.paymentIntentId);
    expect((await deliver(server, stripeEvent('charge.dispute.created', dispute))).body?.outcome).toBe('disputed');
    expect((await accountOf(server, user.userId)).balance).toBe(0);

    const won = stripe.closeDispute(dispute.id as string, 'won');
    expect((await deliver(server, stripeEvent('charge.dispute.closed', won))).body?.outcome).toBe('dispute-won');
    expect((await accountOf(server, user.userId)).balance).toBe(50);
    const rows = await rowsOfType(user.userId, 'dispute', 'dispute_won');
    expect(rows.map((r) => [r.type, r.amount, r.credits_reversed])).toEqual([
      ['dispute', -50, 50],
      ['dispute_won', 50, -50],
    ]);
    expect(rows[1]!.metadata).toMatchObject({ disputeId: dispute.id });
    expect(await creditProblems(server, user.userId)).toEqual([]);
  });

  it('a lost dispute changes nothing more; a partial dispute is cumulative with refunds and clamped like them', async () => {
    const { server, stripe } = billing;
    const user = await buyer('dispute-lost');
    // $8.00 refunded (10 credits), then $32.00 disputed (40 credits): all 50 gone, none twice.
    await deliver(server, stripeEvent('charge.refunded', stripe.refundInDashboard(user.paymentIntentId, 800)));
    const dispute = stripe.openDispute(user.paymentIntentId, 3200);
    await deliver(server, stripeEvent('charge.dispute.created', dispute));
    expect((await accountOf(server, user.userId)).balance).toBe(0);
    // The whole charge disputed again (a second dispute object): the clamp leaves nothing to take.
    const second = stripe.openDispute(user.paymentIntentId, 4000);
    expect((await deliver(server, stripeEvent('charge.dispute.created', second))).body?.outcome).toBe('already-disputed');
    const lost = stripe.closeDispute(dispute.id as string, 'lost');
    expect((await deliver(server, stripeEvent('charge.dispute.closed', lost))).body?.outcome).toBe('dispute-lost');
    const rows = await rowsOfType(user.userId, 'refund', 'dispute', 'dispute_won');
    expect(rows.map((r) => [r.type, r.amount])).toEqual([
      ['refund', -10],
      ['dispute', -40],
    ]);
  });

  it('is exactly-once under redelivery and in any order', async () => {
    const { server, stripe } = billing;
    for (const [seed, outcome] of [
      [1, 'won'],
      [2, 'lost'],
      [3, 'won'],
      [4, 'lost'],
    ] as const) {
      const user = await buyer(`dispute-storm-${seed}`);
      const dispute = stripe.openDispute(user.paymentIntentId);
      const events: StripeEventPayload[] = [
        stripeEvent('charge.dispute.created', dispute),
        stripeEvent('charge.dispute.closed', stripe.closeDispute(dispute.id as string, outcome)),
      ];
      // Every event five times, shuffled, three at a time: `closed` often lands before `created`.
      const answers = await deliverStorm(server, events, { copies: 5, concurrency: 3, seed });
      expect(answers.every((answer) => answer.status === 200)).toBe(true);
      expect((await accountOf(server, user.userId)).balance).toBe(outcome === 'won' ? 50 : 0);
      const rows = await rowsOfType(user.userId, 'dispute', 'dispute_won');
      // A win before the creation takes nothing at all; otherwise one DISPUTE row, and one DISPUTE_WON on a win.
      expect(rows.filter((r) => r.type === 'dispute').length).toBeLessThanOrEqual(1);
      expect(rows.filter((r) => r.type === 'dispute_won').length).toBe(outcome === 'won' && rows.length > 0 ? 1 : 0);
      if (outcome === 'lost') expect(rows.map((r) => r.amount)).toEqual([-50]);
      expect(await creditProblems(server, user.userId)).toEqual([]);
    }
  });

  it('a win that arrives before the creation takes nothing, ever', async () => {
    const { server, stripe } = billing;
    const user = await buyer('won-first');
    const dispute = stripe.openDispute(user.paymentIntentId);
    const created = stripeEvent('charge.dispute.created', dispute);
    const won = stripeEvent('charge.dispute.closed', stripe.closeDispute(dispute.id as string, 'won'));
    expect((await deliver(server, won)).body?.outcome).toBe('dispute-won');
    expect((await deliver(server, created)).body?.outcome).toBe('dispute-won');
    expect((await accountOf(server, user.userId)).balance).toBe(50);
    expect(await rowsOfType(user.userId, 'dispute', 'dispute_won')).toEqual([]);
  });
});

describe('webhook-only mode (no STRIPE_SECRET_KEY)', () => {
  const billing = useBilling({ ADMIN_USER_IDS: ADMIN });

  it('answers a refund of a payment whose purchase has not completed with a retry, and applies it once it has', async () => {
    const { server, stripe } = billing;
    const sub = uniqueSub('webhook-only');
    const userId = await userIdOf(server, sub);
    const session = await checkout(server, sub);
    const paid = stripe.completeSession(session.id, 'paid');
    const refunded = stripeEvent('charge.refunded', stripe.refundInDashboard(paid.payment_intent as string));

    // A server with only the webhook secret cannot ask Stripe for the session: Stripe must deliver again later.
    const { startTestServer } = await import('../support/server.js');
    const { WEBHOOK_SECRET } = await import('../support/billing.js');
    const webhookOnly = await startTestServer({ databaseUrl: server.databaseUrl, env: { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET } });
    try {
      const early = await deliver(webhookOnly, refunded);
      expect(early.status).toBeGreaterThanOrEqual(500);
      expect((await ledgerRows(server, userId)).filter((r) => r.type === 'refund')).toEqual([]);
      expect((await deliver(webhookOnly, stripeEvent('checkout.session.completed', paid))).body?.outcome).toBe('credited');
      const retried = await deliver(webhookOnly, refunded);
      expect(retried).toMatchObject({ status: 200, body: { outcome: 'refunded' } });
      expect((await accountOf(server, userId)).balance).toBe(0);
    } finally {
      await webhookOnly.close();
    }
  });
});
