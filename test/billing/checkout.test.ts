import { describe, expect, it } from '@jest/globals';
import { CreateCheckoutSessionDocument, CreditHistoryDocument, GrantCreditsDocument } from '../generated/graphql.js';
import { ADMIN, APP_URL, checkout, deliver, PACKS, stripeEvent, stripeEventRows, useBilling } from '../support/billing.js';
import { errorOf } from '../support/errors.js';
import { balanceOf, ledgerRows } from '../support/ledger.js';
import { uniqueSub, userIdOf } from '../support/subjects.js';

describe('createCheckoutSession', () => {
  const billing = useBilling();

  it('runs the whole purchase: PENDING row and unchanged balance, then the signed webhook credits the pack', async () => {
    const { server, stripe } = billing;
    const sub = uniqueSub('buyer');
    const userId = await userIdOf(server, sub);
    const grant = await server.as(ADMIN).execute(GrantCreditsDocument, { input: { userId, amount: 3, reason: 'welcome', idempotencyKey: 'g1' } });
    expect(grant.errors).toBeUndefined();

    const res = await server.as(sub).execute(CreateCheckoutSessionDocument, { input: { packId: PACKS.small.id } });
    expect(res.errors).toBeUndefined();
    const session = res.data!.createCheckoutSession;
    expect(session.id).toMatch(/^cs_test_/);
    expect(session.url).toBe(`https://checkout.stripe.test/c/pay/${session.id}`);
    expect(session.transaction).toMatchObject({ type: 'PURCHASE', status: 'PENDING', amount: 10, stripeSessionId: session.id });
    expect(await balanceOf(server, userId)).toBe(3);

    // What Stripe was asked for.
    const [customerCall] = stripe.requestsTo('POST', '/v1/customers').filter((r) => (r.body.metadata as Record<string, string>).userId === userId);
    expect(customerCall!.idempotencyKey).toBe(`tally-customer-${userId}`);
    const sessionCall = stripe.requestsTo('POST', '/v1/checkout/sessions').at(-1)!;
    const customerId = stripe.sessions.get(session.id)!.customer as string;
    expect(customerId).toMatch(/^cus_/);
    expect(sessionCall.idempotencyKey).toMatch(new RegExp(`^tally-checkout-${userId}-`));
    expect(sessionCall.body).toMatchObject({
      mode: 'payment',
      customer: customerId,
      client_reference_id: userId,
      metadata: { userId, packId: PACKS.small.id },
      payment_intent_data: { metadata: { userId, packId: PACKS.small.id }, setup_future_usage: 'off_session' },
      success_url: `${APP_URL}/billing/success?session_id={CHECKOUT_SESSION_ID}`,
      cancel_url: `${APP_URL}/billing/cancel`,
      line_items: [{ quantity: '1', price_data: { currency: 'usd', unit_amount: '1000', product_data: { name: 'Small' } } }],
    });
    const { rows: saved } = await server.sql.query('select stripe_customer_id from accounts where id = $1', [userId]);
    expect(saved[0].stripe_customer_id).toBe(customerId);

    // The customer pays; Stripe tells us.
    const paid = stripe.completeSession(session.id, 'paid');
    const answer = await deliver(server, stripeEvent('checkout.session.completed', paid));
    expect(answer).toEqual({ status: 200, body: { received: true, outcome: 'credited' } });

    expect(await balanceOf(server, userId)).toBe(13);
    const history = await server.as(sub).execute(CreditHistoryDocument, { first: 5 });
    const [latest] = history.data!.creditHistory.edges.map((e) => e.node);
    expect(latest).toMatchObject({ id: session.transaction!.id, type: 'PURCHASE', status: 'COMPLETED', amount: 10, balanceAfter: 13 });
    const purchase = (await ledgerRows(server, userId)).find((r) => r.id === session.transaction!.id)!;
    expect(purchase.stripe_payment_intent_id).toBe(paid.payment_intent);
    expect((await stripeEventRows(server)).at(-1)).toMatchObject({ type: 'checkout.session.completed', outcome: 'credited' });
  });

  it('reuses the Stripe customer on the second checkout, and sells a pack by its Stripe price', async () => {
    const { server, stripe } = billing;
    const sub = uniqueSub('repeat');
    const userId = await userIdOf(server, sub);
    const first = await checkout(server, sub);
    const customersBefore = stripe.customers.size;
    const second = await checkout(server, sub, PACKS.priced.id);

    expect(stripe.customers.size).toBe(customersBefore);
    expect(stripe.sessions.get(second.id)!.customer).toBe(stripe.sessions.get(first.id)!.customer);
    expect(stripe.requestsTo('POST', '/v1/checkout/sessions').at(-1)!.body.line_items).toEqual([{ price: 'price_fifty', quantity: '1' }]);
    expect(second.transaction).toMatchObject({ status: 'PENDING', amount: 50 });
    expect((await ledgerRows(server, userId)).map((r) => r.status)).toEqual(['pending', 'pending']);
  });

  it('creates one Stripe customer when a user starts several first purchases at once', async () => {
    const { server, stripe } = billing;
    const sub = uniqueSub('racer');
    const userId = await userIdOf(server, sub);
    // Hold the customer call open so that every request sees "no customer yet" before any of them saves one.
    stripe.delay('POST', '/v1/customers', 150);
    try {
      const sessions = await Promise.all([1, 2, 3, 4].map(() => checkout(server, sub)));
      const mine = [...stripe.customers.values()].filter((c) => (c.metadata as Record<string, string>).userId === userId);
      expect(mine).toHaveLength(1);
      expect(new Set(sessions.map((s) => stripe.sessions.get(s.id)!.customer))).toEqual(new Set([mine[0]!.id]));
      const { rows } = await server.sql.query('select stripe_customer_id from accounts where id = $1', [userId]);
      expect(rows[0].stripe_customer_id).toBe(mine[0]!.id);
      expect(await ledgerRows(server, userId)).toHaveLength(4);
    } finally {
      stripe.delay('POST', '/v1/customers', 0);
    }
  });

  it('passes the caller’s success and cancel URLs to Stripe', async () => {
    const { server, stripe } = billing;
    const sub = uniqueSub('urls');
    await userIdOf(server, sub);
    const res = await server.as(sub).execute(CreateCheckoutSessionDocument, {
      input: { packId: PACKS.small.id, successUrl: `${APP_URL}/ok?s={CHECKOUT_SESSION_ID}`, cancelUrl: 'http://localhost:3000/back' },
    });
    expect(res.errors).toBeUndefined();
    expect(stripe.requestsTo('POST', '/v1/checkout/sessions').at(-1)!.body).toMatchObject({
      success_url: `${APP_URL}/ok?s={CHECKOUT_SESSION_ID}`,
      cancel_url: 'http://localhost:3000/back',
    });
  });

  it.each([
    ['successUrl', 'a javascript: URL', 'javascript:alert(1)'],
    ['successUrl', 'not a URL', 'not a url'],
    ['cancelUrl', 'an ftp: URL', 'ftp://files.example/x'],
    ['successUrl', 'a site that is not the app (an open redirect through Stripe)', 'https://evil.example/phish'],
    ['cancelUrl', 'a look-alike of the app origin', 'https://app.tally.test.evil.example/back'],
    ['successUrl', 'the app origin with credentials', 'https://user:pass@app.tally.test/ok'],
    ['cancelUrl', 'a URL over 2048 characters', `https://example.com/${'a'.repeat(2100)}`],
  ])('rejects a %s of %s with BAD_USER_INPUT naming it, before calling Stripe', async (field, _label, value) => {
    const { server, stripe } = billing;
    const sub = uniqueSub('badurl');
    const userId = await userIdOf(server, sub);
    const calls = stripe.requests.length;
    const res = await server.as(sub).execute(CreateCheckoutSessionDocument, { input: { packId: PACKS.small.id, [field]: value } });
    expect(errorOf(res)).toMatchObject({ code: 'BAD_USER_INPUT', field: `input.${field}` });
    expect(stripe.requests.length).toBe(calls);
    expect(await ledgerRows(server, userId)).toEqual([]);
  });

  it.each([
    ['an unknown pack', 'pack_nosuchthing'],
    ['an inactive pack', PACKS.retired.id],
  ])('answers NOT_FOUND for %s', async (_label, packId) => {
    const { server, stripe } = billing;
    const sub = uniqueSub('nopack');
    const userId = await userIdOf(server, sub);
    const calls = stripe.requests.length;
    const res = await server.as(sub).execute(CreateCheckoutSessionDocument, { input: { packId } });
    expect(errorOf(res)?.code).toBe('NOT_FOUND');
    expect(stripe.requests.length).toBe(calls);
    expect(await ledgerRows(server, userId)).toEqual([]);
  });

  it('answers UNAUTHENTICATED without a token', async () => {
    const res = await billing.server.as().execute(CreateCheckoutSessionDocument, { input: { packId: PACKS.small.id } });
    expect(errorOf(res)?.code).toBe('UNAUTHENTICATED');
  });

  it('reports a Stripe failure as PAYMENT_PROVIDER_ERROR and leaves no PENDING row', async () => {
    const { server, stripe } = billing;
    const sub = uniqueSub('refused');
    const userId = await userIdOf(server, sub);
    stripe.fail({ method: 'POST', path: '/v1/checkout/sessions', status: 400, type: 'invalid_request_error', message: 'Not a valid currency' });
    const refused = await server.as(sub).execute(CreateCheckoutSessionDocument, { input: { packId: PACKS.small.id } });
    expect(errorOf(refused)?.code).toBe('PAYMENT_PROVIDER_ERROR');
    // Stripe's own text is logged, not shown: it can name the account's settings, prices and customers.
    expect(refused.errors?.[0]?.message).not.toContain('Not a valid currency');

    stripe.clearFailures();
    stripe.fail({ method: 'POST', path: '/v1/checkout/sessions', status: 500, type: 'api_error', message: 'Stripe is down' });
    const down = await server.as(sub).execute(CreateCheckoutSessionDocument, { input: { packId: PACKS.small.id } });
    expect(errorOf(down)?.code).toBe('PAYMENT_PROVIDER_ERROR');
    expect(await ledgerRows(server, userId)).toEqual([]);
    expect(await balanceOf(server, userId)).toBe(0);
  });

  it('leaves no customer id and no row when creating the customer fails', async () => {
    const { server, stripe } = billing;
    const sub = uniqueSub('nocustomer');
    const userId = await userIdOf(server, sub);
    stripe.fail({ method: 'POST', path: '/v1/customers', status: 402, type: 'card_error', message: 'Nope' });
    const res = await server.as(sub).execute(CreateCheckoutSessionDocument, { input: { packId: PACKS.small.id } });
    expect(errorOf(res)?.code).toBe('PAYMENT_PROVIDER_ERROR');
    const { rows } = await server.sql.query('select stripe_customer_id from accounts where id = $1', [userId]);
    expect(rows[0].stripe_customer_id).toBeNull();
    expect(await ledgerRows(server, userId)).toEqual([]);
  });

  it('retries a failed Stripe call with the same idempotency key, so the retry opens one session', async () => {
    const { server, stripe } = billing;
    const sub = uniqueSub('retry');
    const userId = await userIdOf(server, sub);
    await checkout(server, sub); // the customer exists now, so only the session call is in play
    const before = stripe.requestsTo('POST', '/v1/checkout/sessions').length;
    const sessionsBefore = stripe.sessions.size;
    stripe.fail({ method: 'POST', path: '/v1/checkout/sessions', status: 500, type: 'api_error', times: 1, shouldRetry: true });

    const session = await checkout(server, sub);
    const attempts = stripe.requestsTo('POST', '/v1/checkout/sessions').slice(before);
    expect(attempts.map((a) => a.status)).toEqual([500, 200]);
    expect(attempts[0]!.idempotencyKey).toBe(attempts[1]!.idempotencyKey);
    expect(stripe.sessions.size).toBe(sessionsBefore + 1);
    expect((await ledgerRows(server, userId)).map((r) => r.stripe_session_id)).toContain(session.id);
  });

  it('opens one session for a client retry that repeats its X-Request-Id', async () => {
    const { server, stripe } = billing;
    const sub = uniqueSub('xreq');
    const userId = await userIdOf(server, sub);
    const client = server.as(sub);
    const body = { query: 'mutation($p: ID!) { createCheckoutSession(input: { packId: $p }) { id transaction { id } } }', variables: { p: PACKS.small.id } };
    const headers = { 'x-request-id': `retry-${userId}` };
    const first = await client.raw(body, headers);
    const second = await client.raw(body, headers);
    expect(first.errors).toBeUndefined();
    expect(second.data).toEqual(first.data);
    expect(await ledgerRows(server, userId)).toHaveLength(1);
    expect(stripe.requestsTo('POST', '/v1/checkout/sessions').filter((r) => r.body.client_reference_id === userId)).toHaveLength(2);
  });
});
