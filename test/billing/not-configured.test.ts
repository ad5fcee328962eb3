import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { CreateBillingPortalSessionDocument, CreateCheckoutSessionDocument, CreateSubscriptionCheckoutDocument, RefundCreditsDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ADMIN, deliver, PACKS, seedPacks, stripeEvent, WEBHOOK_SECRET } from '../support/billing.js';
import { errorOf } from '../support/errors.js';
import { balanceOf, expectCleanLedger, ledgerRows, writeCounts } from '../support/ledger.js';
import { uniqueSub, userIdOf } from '../support/subjects.js';

const paidSession = (metadata: Record<string, string>) => ({
  id: `cs_test_outside_${Math.random().toString(36).slice(2)}`,
  object: 'checkout.session',
  mode: 'payment',
  status: 'complete',
  payment_status: 'paid',
  payment_intent: `pi_outside_${Math.random().toString(36).slice(2)}`,
  amount_total: 1000,
  currency: 'usd',
  metadata,
});

describe('with only STRIPE_WEBHOOK_SECRET (no API key)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, ADMIN_USER_IDS: ADMIN } });
    await seedPacks(server);
  });
  afterEach(() => expectCleanLedger(server));
  afterAll(() => server.close());

  it('answers createCheckoutSession with BILLING_NOT_CONFIGURED and writes nothing', async () => {
    const sub = uniqueSub('nokey');
    const userId = await userIdOf(server, sub);
    const res = await server.as(sub).execute(CreateCheckoutSessionDocument, { input: { packId: PACKS.small.id } });
    expect(errorOf(res)?.code).toBe('BILLING_NOT_CONFIGURED');
    expect(await ledgerRows(server, userId)).toEqual([]);
  });

  it('answers createSubscriptionCheckout and createBillingPortalSession with BILLING_NOT_CONFIGURED', async () => {
    const sub = uniqueSub('nokey_subscribe');
    await server.sql.query(`update plans set stripe_price_id = 'price_pro_nokey' where id = 'pro'`);
    expect(errorOf(await server.as(sub).execute(CreateSubscriptionCheckoutDocument, { input: { planId: 'pro' } }))?.code).toBe('BILLING_NOT_CONFIGURED');
    expect(errorOf(await server.as(sub).execute(CreateBillingPortalSessionDocument, { input: {} }))?.code).toBe('BILLING_NOT_CONFIGURED');
  });

  it('still verifies and applies signed webhooks, and reverses purchases locally on refundCredits', async () => {
    const userId = await userIdOf(server, uniqueSub('verifyonly'));
    const session = paidSession({ userId, packId: PACKS.small.id });

    const forged = await deliver(server, stripeEvent('checkout.session.completed', session), { secret: 'whsec_forged0123456789' });
    expect(forged.status).toBe(400);
    expect(await balanceOf(server, userId)).toBe(0);

    const answer = await deliver(server, stripeEvent('checkout.session.completed', session));
    expect(answer).toEqual({ status: 200, body: { received: true, outcome: 'credited' } });
    expect(await balanceOf(server, userId)).toBe(10);

    const [purchase] = await ledgerRows(server, userId);
    const refund = await server.as(ADMIN).execute(RefundCreditsDocument, { input: { transactionId: purchase!.id, reason: 'no Stripe here' } });
    expect(refund.errors).toBeUndefined();
    expect(refund.data!.refundCredits).toMatchObject({ type: 'REFUND', amount: -10, balanceAfter: 0 });
    expect(await balanceOf(server, userId)).toBe(0);
  });
});

describe('with no Stripe settings at all', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    await seedPacks(server);
  });
  afterEach(() => expectCleanLedger(server));
  afterAll(() => server.close());

  it('answers BILLING_NOT_CONFIGURED to checkout and 503 to the webhook, writing nothing', async () => {
    const sub = uniqueSub('nostripe');
    const userId = await userIdOf(server, sub);
    const res = await server.as(sub).execute(CreateCheckoutSessionDocument, { input: { packId: PACKS.small.id } });
    expect(errorOf(res)?.code).toBe('BILLING_NOT_CONFIGURED');

    const before = await writeCounts(server);
    const webhook = await deliver(server, stripeEvent('checkout.session.completed', paidSession({ userId, packId: PACKS.small.id })));
    expect(webhook.status).toBe(503);
    expect(await writeCounts(server)).toEqual(before);
  });
});
