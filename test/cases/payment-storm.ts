import { expect, it } from '@jest/globals';
import { checkout, deliverStorm, PACKS, stripeEvent } from '../support/billing.js';
import { balanceOf, expectCleanLedger, ledgerRows } from '../support/ledger.js';
import type { TestServer } from '../support/server.js';
import type { StripeStandIn } from '../support/stripe-stand-in.js';
import { uniqueSub, userIdOf } from '../support/subjects.js';

/**
 * Stripe's webhook storms: every event five times, shuffled, three deliveries at once, against `servers` (one, or
 * several instances on one database, delivery i going to server i mod n). Each payment is credited exactly once.
 * The servers run with billingEnv(stripe) and the packs of seedPacks (support/billing.ts).
 */
export function paymentStorm(world: () => { servers: TestServer[]; stripe: StripeStandIn }) {
  const first = () => world().servers[0]!;

  /** A user with a PENDING purchase of the small pack, and that session as Stripe holds it. */
  async function pendingPurchase(label: string, server: TestServer) {
    const sub = uniqueSub(label);
    const userId = await userIdOf(server, sub);
    const session = await checkout(server, sub);
    return { sub, userId, sessionId: session.id, transactionId: session.transaction!.id };
  }

  it('credits each payment once whatever the number, order and concurrency of deliveries', async () => {
    const { servers, stripe } = world();
    const server = first();
    for (const seed of [1, 2, 3]) {
      // A card payment (completed + paid), a payment announced by both `completed` and `async_payment_succeeded`,
      // a session made outside the API (credited from its metadata by racing deliveries), and an expiry.
      const card = await pendingPurchase(`card${seed}`, servers[seed % servers.length]!);
      const both = await pendingPurchase(`both${seed}`, servers[(seed + 1) % servers.length]!);
      const expiring = await pendingPurchase(`expiring${seed}`, server);
      const outsiderId = await userIdOf(server, uniqueSub(`outsider${seed}`));
      const outside = stripe.createPaidSession({ metadata: { userId: outsiderId, packId: PACKS.priced.id }, amount_total: 4000 });
      const bothPaid = stripe.completeSession(both.sessionId, 'paid');
      const events = [
        stripeEvent('checkout.session.completed', stripe.completeSession(card.sessionId, 'paid')),
        stripeEvent('checkout.session.completed', bothPaid),
        stripeEvent('checkout.session.async_payment_succeeded', bothPaid),
        stripeEvent('checkout.session.completed', outside),
        stripeEvent('checkout.session.async_payment_succeeded', outside),
        stripeEvent('checkout.session.expired', stripe.expireSession(expiring.sessionId)),
      ];

      const answers = await deliverStorm(servers, events, { copies: 5, concurrency: 3, seed });

      expect(answers).toHaveLength(30);
      expect(answers.every((a) => a.status === 200)).toBe(true);
      expect(answers.filter((a) => a.body?.outcome === 'credited' && !a.body.duplicate)).toHaveLength(3);
      expect(await balanceOf(server, card.userId)).toBe(10);
      expect(await balanceOf(server, both.userId)).toBe(10);
      expect(await balanceOf(server, outsiderId)).toBe(50);
      expect(await balanceOf(server, expiring.userId)).toBe(0);
      expect((await ledgerRows(server, card.userId)).map((r) => [r.status, r.amount])).toEqual([['completed', 10]]);
      expect((await ledgerRows(server, both.userId)).map((r) => [r.status, r.amount])).toEqual([['completed', 10]]);
      expect((await ledgerRows(server, expiring.userId)).map((r) => r.status)).toEqual(['failed']);
      const outsiderRows = await ledgerRows(server, outsiderId);
      expect(outsiderRows.map((r) => [r.type, r.status, r.amount, r.stripe_session_id])).toEqual([['purchase', 'completed', 50, outside.id]]);
      expect(outsiderRows[0]!.balance_after).toBe(50);
      const recorded = await server.sql.query('select id, outcome from stripe_events where id = any($1)', [events.map((e) => e.id)]);
      expect(recorded.rows).toHaveLength(events.length);
      await expectCleanLedger(server);
    }
  });
}
