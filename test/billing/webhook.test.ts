import { describe, expect, it } from '@jest/globals';
import Stripe from 'stripe';
import { paymentStorm } from '../cases/payment-storm.js';
import { checkout, deliver, PACKS, stripeEvent, useBilling, WEBHOOK_SECRET } from '../support/billing.js';
import { balanceOf, expectCleanLedger, ledgerRows, writeCounts } from '../support/ledger.js';
import { uniqueSub, userIdOf } from '../support/subjects.js';

describe('POST /webhooks/stripe', () => {
  const billing = useBilling();

  /** A user with a PENDING purchase of the small pack, and that session as Stripe holds it. */
  async function pendingPurchase(label: string) {
    const sub = uniqueSub(label);
    const userId = await userIdOf(billing.server, sub);
    const session = await checkout(billing.server, sub);
    return { sub, userId, sessionId: session.id, transactionId: session.transaction!.id };
  }

  const eventOutcome = async (eventId: string) =>
    (await billing.server.sql.query('select outcome from stripe_events where id = $1', [eventId])).rows[0]?.outcome as string | undefined;

  describe('refuses what Stripe did not sign, and writes nothing', () => {
    it.each([
      ['a signature made with another secret', { secret: 'whsec_someoneelse0123456789' }],
      ['a timestamp older than the tolerance', { timestamp: Math.floor(Date.now() / 1000) - 600 }],
      ['no Stripe-Signature header', { signature: null }],
      ['a garbage Stripe-Signature header', { signature: 't=1,v1=deadbeef' }],
    ])('answers 400 to %s', async (_label, options) => {
      const { server, stripe } = billing;
      const { userId, sessionId } = await pendingPurchase('unsigned');
      const before = await writeCounts(server);
      const event = stripeEvent('checkout.session.completed', stripe.completeSession(sessionId, 'paid'));
      const answer = await deliver(server, event, options);
      expect(answer.status).toBe(400);
      expect(await writeCounts(server)).toEqual(before);
      expect(await balanceOf(server, userId)).toBe(0);
      // The same event, properly signed, still works: the refusal consumed nothing.
      expect((await deliver(server, event)).body?.outcome).toBe('credited');
    });

    it('answers 400 to a body changed after signing', async () => {
      const { server, stripe } = billing;
      const { userId, sessionId } = await pendingPurchase('tampered');
      const before = await writeCounts(server);
      const event = stripeEvent('checkout.session.completed', stripe.completeSession(sessionId, 'paid'));
      const signed = Stripe.webhooks.generateTestHeaderString({ payload: JSON.stringify({ ...event, id: 'evt_original' }), secret: WEBHOOK_SECRET });
      const answer = await deliver(server, event, { signature: signed });
      expect(answer.status).toBe(400);
      expect(await writeCounts(server)).toEqual(before);
      expect(await balanceOf(server, userId)).toBe(0);
    });

    it('answers 400 to a correctly signed body that is not JSON', async () => {
      const { server } = billing;
      const before = await writeCounts(server);
      const answer = await deliver(server, null, { body: '{"id": "evt_1", "type": "checkout.session.completed", ' });
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({ error: 'invalid payload' });
      expect(await writeCounts(server)).toEqual(before);
    });

    it('answers 400 to an empty body', async () => {
      const before = await writeCounts(billing.server);
      expect((await deliver(billing.server, null, { body: '' })).status).toBe(400);
      expect(await writeCounts(billing.server)).toEqual(before);
    });

    it('refuses a body over 256 KB with 413', async () => {
      const { server, stripe } = billing;
      const { sessionId } = await pendingPurchase('huge');
      const before = await writeCounts(server);
      const session = { ...stripe.completeSession(sessionId, 'paid'), padding: 'x'.repeat(300 * 1024) };
      const answer = await deliver(server, stripeEvent('checkout.session.completed', session));
      expect(answer.status).toBe(413);
      expect(await writeCounts(server)).toEqual(before);
    });
  });

  paymentStorm(() => ({ servers: [billing.server], stripe: billing.stripe }));

  it('counts an async payment only when it settles, and not at all when it fails', async () => {
    const { server, stripe } = billing;
    const settles = await pendingPurchase('settles');
    const fails = await pendingPurchase('fails');

    for (const purchase of [settles, fails]) {
      const started = stripeEvent('checkout.session.completed', stripe.completeSession(purchase.sessionId, 'unpaid'));
      expect((await deliver(server, started)).body?.outcome).toBe('awaiting-payment');
      expect((await ledgerRows(server, purchase.userId)).map((r) => r.status)).toEqual(['pending']);
    }

    await deliver(server, stripeEvent('checkout.session.async_payment_succeeded', stripe.settleSession(settles.sessionId, 'succeeded')));
    const failed = stripeEvent('checkout.session.async_payment_failed', stripe.settleSession(fails.sessionId, 'failed'));
    expect((await deliver(server, failed)).body?.outcome).toBe('failed');

    expect(await balanceOf(server, settles.userId)).toBe(10);
    expect(await balanceOf(server, fails.userId)).toBe(0);
    const [failedRow] = await ledgerRows(server, fails.userId);
    expect(failedRow).toMatchObject({ status: 'failed', amount: 10 });
    expect(failedRow!.metadata).toMatchObject({ failureReason: 'async_payment_failed' });
  });

  it('marks an expired session FAILED', async () => {
    const { server, stripe } = billing;
    const purchase = await pendingPurchase('expires');
    const answer = await deliver(server, stripeEvent('checkout.session.expired', stripe.expireSession(purchase.sessionId)));
    expect(answer.body?.outcome).toBe('failed');
    const [row] = await ledgerRows(server, purchase.userId);
    expect(row).toMatchObject({ status: 'failed' });
    expect(row!.metadata).toMatchObject({ failureReason: 'expired' });
    expect(await balanceOf(server, purchase.userId)).toBe(0);
  });

  it('changes nothing when `expired` arrives after `completed`', async () => {
    const { server, stripe } = billing;
    const purchase = await pendingPurchase('late-expiry');
    const paid = stripe.completeSession(purchase.sessionId, 'paid');
    await deliver(server, stripeEvent('checkout.session.completed', paid));
    const late = stripeEvent('checkout.session.expired', { ...paid, status: 'expired' });
    const answer = await deliver(server, late);
    expect(answer).toEqual({ status: 200, body: { received: true, outcome: 'already-completed' } });
    expect((await ledgerRows(server, purchase.userId)).map((r) => r.status)).toEqual(['completed']);
    expect(await balanceOf(server, purchase.userId)).toBe(10);
  });

  it('records a payment for a session already FAILED instead of dropping it', async () => {
    const { server, stripe } = billing;
    const purchase = await pendingPurchase('paid-late');
    const expired = stripe.expireSession(purchase.sessionId);
    await deliver(server, stripeEvent('checkout.session.expired', expired));
    const paid = stripeEvent('checkout.session.completed', { ...expired, status: 'complete', payment_status: 'paid', payment_intent: 'pi_late' });
    const answer = await deliver(server, paid);
    expect(answer.status).toBe(200);
    expect(answer.body?.outcome).toBe('paid-after-failed');
    const [recorded] = (await server.sql.query('select outcome, detail from stripe_events where id = $1', [paid.id])).rows;
    expect(recorded.outcome).toBe('paid-after-failed');
    expect(recorded.detail).toContain(purchase.transactionId);
    expect((await ledgerRows(server, purchase.userId)).map((r) => r.status)).toEqual(['failed']);
    expect(await balanceOf(server, purchase.userId)).toBe(0);
  });

  it('credits a session made outside the API from its metadata', async () => {
    const { server, stripe } = billing;
    const userId = await userIdOf(server, uniqueSub('dashboard'));
    const session = stripe.createPaidSession({ metadata: { userId, packId: PACKS.small.id }, amount_total: 1000 });
    const answer = await deliver(server, stripeEvent('checkout.session.completed', session));
    expect(answer.body?.outcome).toBe('credited');
    const [row] = await ledgerRows(server, userId);
    expect(row).toMatchObject({ type: 'purchase', status: 'completed', amount: 10, balance_after: 10, stripe_session_id: session.id });
    expect(row!.stripe_payment_intent_id).toBe(session.payment_intent);
    expect(row!.metadata).toMatchObject({ packId: PACKS.small.id, source: 'stripe-metadata' });
    expect(await balanceOf(server, userId)).toBe(10);
  });

  it.each([
    ['an unknown user', () => ({ userId: 'usr_nosuchuser0000000000000', packId: PACKS.small.id })],
    ['an unknown pack', (userId: string) => ({ userId, packId: 'pack_nosuchpack' })],
    ['no metadata', () => ({})],
  ])('answers 200 and writes nothing for a session naming %s', async (_label, metadataFor) => {
    const { server, stripe } = billing;
    const userId = await userIdOf(server, uniqueSub('stranger'));
    const before = await writeCounts(server);
    const session = stripe.createPaidSession({ metadata: metadataFor(userId) as Record<string, string> });
    const event = stripeEvent('checkout.session.completed', session);
    const answer = await deliver(server, event);
    expect(answer.status).toBe(200);
    expect(answer.body?.received).toBe(true);
    expect(await writeCounts(server)).toEqual(before);
    expect(await eventOutcome(event.id)).toBeUndefined();
  });

  it('answers 200 to event types it does not handle, and ignores them', async () => {
    const { server } = billing;
    const before = await writeCounts(server);
    const event = stripeEvent('customer.updated', { id: 'cus_123', object: 'customer' });
    const answer = await deliver(server, event);
    expect(answer).toEqual({ status: 200, body: { received: true, outcome: 'ignored' } });
    const after = await writeCounts(server);
    expect({ ...after, events: before.events }).toEqual(before);
    expect(await eventOutcome(event.id)).toBe('ignored');
  });

  it.each([
    ['an intent without an id', 'payment_intent.succeeded', {}],
    ['an id that is a number', 'payment_intent.payment_failed', { id: 123, object: 'payment_intent' }],
    ['an amount past any integer', 'charge.dispute.created', { id: 'dp_huge', object: 'dispute', amount: 1e308, charge: 'ch_x' }],
    ['a NUL in an id', 'checkout.session.completed', { id: 'cs_\u0000x', object: 'checkout.session' }],
    ['a NUL in metadata', 'checkout.session.completed', { id: 'cs_nul_meta', object: 'checkout.session', metadata: { accountId: 'usr_\u0000' } }],
    ['a lone surrogate in a key', 'invoice.paid', { id: 'in_surrogate', object: 'invoice', metadata: { 'k\ud800': 'v' } }],
  ])('acknowledges a signed event that could never be applied (%s) as malformed, and writes nothing', async (_label, type, object) => {
    const { server } = billing;
    const before = await writeCounts(server);
    const answer = await deliver(server, stripeEvent(type, object as never));
    expect(answer).toEqual({ status: 200, body: { received: true, outcome: 'malformed' } });
    expect(await writeCounts(server)).toEqual(before);
  });

  it('applies a payment whose object carries unstorable text in a field Tally never reads; ignores an unapplied type without an id', async () => {
    const { server, stripe } = billing;
    const { userId, sessionId } = await pendingPurchase('odd_name');
    const paid = stripe.completeSession(sessionId, 'paid');
    const event = stripeEvent('checkout.session.completed', { ...paid, customer_details: { name: 'Nul\u0000 Name', email: null } });
    expect((await deliver(server, event)).body?.outcome).toBe('credited');
    expect(await balanceOf(server, userId)).toBe(10);
    expect((await deliver(server, stripeEvent('invoice.upcoming', { object: 'invoice', amount_due: 100 }))).body?.outcome).toBe('ignored');
  });

  it('answers a redelivered event from its record without applying it again', async () => {
    const { server, stripe } = billing;
    const purchase = await pendingPurchase('redelivered');
    const event = stripeEvent('checkout.session.completed', stripe.completeSession(purchase.sessionId, 'paid'));
    expect((await deliver(server, event)).body).toEqual({ received: true, outcome: 'credited' });
    expect((await deliver(server, event)).body).toEqual({ received: true, outcome: 'credited', duplicate: true });
    expect(await balanceOf(server, purchase.userId)).toBe(10);
  });

  it('stays exactly-once when the event record is lost: the session itself says it was credited', async () => {
    const { server, stripe } = billing;
    const purchase = await pendingPurchase('lost-record');
    const event = stripeEvent('checkout.session.completed', stripe.completeSession(purchase.sessionId, 'paid'));
    await deliver(server, event);
    await server.sql.query('delete from stripe_events where id = $1', [event.id]);
    const retry = await deliver(server, event);
    expect(retry.body?.outcome).toBe('already-credited');
    expect(await balanceOf(server, purchase.userId)).toBe(10);
    expect(await ledgerRows(server, purchase.userId)).toHaveLength(1);
  });

  it('answers 5xx when the database fails mid-event, keeps nothing of it, and applies Stripe’s retry once', async () => {
    const { server, stripe } = billing;
    const purchase = await pendingPurchase('db-fails');
    const event = stripeEvent('checkout.session.completed', stripe.completeSession(purchase.sessionId, 'paid'));
    // The ledger effect runs first; the event record after it fails, as a lost connection would at that point.
    await server.sql.query(`create function refuse_stripe_event() returns trigger language plpgsql as $$
      begin raise exception 'connection lost (simulated)'; end $$`);
    await server.sql.query('create trigger refuse_stripe_event before insert on stripe_events for each row execute function refuse_stripe_event()');
    let failed;
    try {
      failed = await deliver(server, event);
    } finally {
      await server.sql.query('drop trigger refuse_stripe_event on stripe_events');
      await server.sql.query('drop function refuse_stripe_event()');
    }
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(await balanceOf(server, purchase.userId)).toBe(0);
    expect((await ledgerRows(server, purchase.userId)).map((r) => r.status)).toEqual(['pending']);
    expect(await eventOutcome(event.id)).toBeUndefined();

    expect((await deliver(server, event)).body?.outcome).toBe('credited');
    expect(await balanceOf(server, purchase.userId)).toBe(10);
  });
});
