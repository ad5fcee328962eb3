import { beforeAll, describe, expect, it } from '@jest/globals';
import {
  ConsumeCreditsDocument,
  CreateBillingPortalSessionDocument,
  CreateOrganizationDocument,
  CreateSubscriptionCheckoutDocument,
  MySubscriptionDocument,
  OrganizationSubscriptionDocument,
  PlansDocument,
  SetPlanDocument,
  AddOrganizationMemberDocument,
} from '../generated/graphql.js';
import { grantAllowances } from '../../src/credits/allowances.js';
import { ADMIN, deliver, deliverStorm, stripeEvent, useBilling } from '../support/billing.js';
import { key } from '../support/credits.js';
import { codesOf, errorOf } from '../support/errors.js';
import { balanceOf, ledgerRows } from '../support/ledger.js';
import { uniqueSub, userIdOf } from '../support/subjects.js';
import { waitUntil } from '../support/processes.js';
import { legacyShape } from '../support/stripe-subscriptions.js';
import {
  changeEvents,
  deliverAll,
  iso,
  periodGrants,
  periodOf,
  setUpPlans,
  startEvents,
  subscribe,
  SUBSCRIPTION_ENV,
} from '../support/subscriptions.js';

describe('subscriptions', () => {
  const billing = useBilling(SUBSCRIPTION_ENV);
  beforeAll(() => setUpPlans(billing));

  const spend = async (sub: string, amount: number, organizationId?: string) => {
    const res = await billing.server
      .as(sub)
      .execute(ConsumeCreditsDocument, { input: { amount, feature: 'chat', idempotencyKey: key('spend'), ...(organizationId ? { organizationId } : {}) } });
    expect(res.errors).toBeUndefined();
    return res.data!.consumeCredits;
  };
  const mine = async (sub: string) => (await billing.server.as(sub).execute(MySubscriptionDocument)).data!.me;
  const planRows = async (accountId: string) =>
    (
      await billing.server.sql.query(
        `select amount, actor_id as "actorId", metadata->'plan' as plan from credit_transactions where account_id = $1 and type = 'plan_change' order by posting_seq`,
        [accountId],
      )
    ).rows;

  async function subscriber(label: string, planId = 'pro') {
    const sub = uniqueSub(label);
    const userId = await userIdOf(billing.server, sub);
    const started = await subscribe(billing, sub, planId);
    return { sub, userId, started, subscriptionId: String(started.subscription.id) };
  }

  it('lists the plans publicly, with their credits, rollover cap and price', async () => {
    const res = await billing.server.as().execute(PlansDocument);
    expect(res.errors).toBeUndefined();
    const plans = Object.fromEntries(res.data!.plans.map((plan) => [plan.id, plan]));
    expect(plans.free).toMatchObject({ name: 'Free', monthlyCredits: 0, rolloverCap: null, priceCents: 0, currency: 'usd', interval: 'month' });
    expect(plans.pro).toMatchObject({ monthlyCredits: 50, rolloverCap: 20, priceCents: 2000, currency: 'usd', interval: 'month' });
    expect(plans.team).toMatchObject({ monthlyCredits: 200, rolloverCap: 20, priceCents: 9900 });
    expect(plans.starter).toMatchObject({ monthlyCredits: 30, trialDays: 14 });
    expect(plans.annual).toMatchObject({ interval: 'year' });
  });

  it('subscribes through Checkout in subscription mode on the account’s customer; the paid invoice brings the period’s credits', async () => {
    const { server, stripe } = billing;
    const { sub, userId, started, subscriptionId } = await subscriber('subscribe');
    const [request] = stripe.requestsTo('POST', '/v1/checkout/sessions').slice(-1);
    expect(request!.body).toMatchObject({
      mode: 'subscription',
      line_items: [{ price: 'price_pro_monthly', quantity: '1' }],
      client_reference_id: userId,
      subscription_data: { metadata: { accountId: userId, planId: 'pro' } },
    });
    expect(request!.body.customer).toMatch(/^cus_/);

    // Nothing changes until Stripe says so.
    expect(await mine(sub)).toMatchObject({ planTier: 'free', subscriptionStatus: null, allowance: null });
    expect(await deliverAll(server, startEvents(started))).toEqual(['subscription-synced', 'period-credits', 'ignored']);

    const { start, end } = periodOf(started.subscription);
    expect(await mine(sub)).toEqual({
      id: userId,
      creditBalance: 50,
      planTier: 'pro',
      scheduledPlanTier: null,
      subscriptionStatus: 'ACTIVE',
      currentPeriodEnd: iso(end),
      cancelAtPeriodEnd: false,
      allowance: { periodStart: iso(start), periodEnd: iso(end), granted: 50, used: 0, remaining: 50 },
    });
    expect(await periodGrants(server, userId)).toEqual([
      { key: `subscription:${subscriptionId}:${start}`, amount: 50, expiresAt: iso(end), rollover: 0, source: 'subscription' },
    ]);
    expect(await planRows(userId)).toEqual([{ amount: 0, actorId: null, plan: { from: 'free', to: 'pro' } }]);

    await spend(sub, 32);
    expect((await mine(sub)).allowance).toMatchObject({ granted: 50, used: 32, remaining: 18 });

    // A second subscription while this one is live: the portal is the place for changes.
    const again = await server.as(sub).execute(CreateSubscriptionCheckoutDocument, { input: { planId: 'team' } });
    expect(errorOf(again)).toMatchObject({ code: 'CONFLICT', subscriptionStatus: 'ACTIVE' });
    expect(again.errors![0]!.message).toMatch(/billing portal/);
  });

  it('refuses a plan without a Price, an unknown plan, and an organization the viewer does not manage', async () => {
    const { server } = billing;
    const sub = uniqueSub('refused');
    expect(errorOf(await server.as(sub).execute(CreateSubscriptionCheckoutDocument, { input: { planId: 'free' } }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.planId' });
    expect(codesOf(await server.as(sub).execute(CreateSubscriptionCheckoutDocument, { input: { planId: 'platinum' } }))).toEqual(['NOT_FOUND']);
    const owner = uniqueSub('refused_owner');
    const org = (await server.as(owner).execute(CreateOrganizationDocument, { input: { name: 'Refusers' } })).data!.createOrganization;
    await server.as(owner).execute(AddOrganizationMemberDocument, { input: { organizationId: org.id, userId: await userIdOf(server, sub), role: 'MEMBER' } });
    const asMember = await server.as(sub).execute(CreateSubscriptionCheckoutDocument, { input: { planId: 'pro', organizationId: org.id } });
    expect(codesOf(asMember)).toEqual(['FORBIDDEN']);
    expect(codesOf(await server.as(uniqueSub('stranger')).execute(CreateSubscriptionCheckoutDocument, { input: { planId: 'pro', organizationId: org.id } }))).toEqual([
      'NOT_FOUND',
    ]);
    expect(codesOf(await server.as().execute(CreateSubscriptionCheckoutDocument, { input: { planId: 'pro' } }))).toEqual(['UNAUTHENTICATED']);
  });

  it('runs three cycles: unspent credits expire at each period’s end, and up to the rollover cap comes back', async () => {
    const { server, stripe } = billing;
    const { sub, userId, started, subscriptionId } = await subscriber('cycles');
    await deliverAll(server, startEvents(started));
    await spend(sub, 45); // 5 left of period 1

    const second = stripe.billing.renew(subscriptionId);
    expect(await deliverAll(server, changeEvents(second))).toEqual(['subscription-synced', 'period-credits']);
    expect(await balanceOf(server, userId)).toBe(55); // 50 + 5 rolled over
    await spend(sub, 10); // 45 left of period 2

    const third = stripe.billing.renew(subscriptionId);
    await deliverAll(server, changeEvents(third));
    expect(await balanceOf(server, userId)).toBe(70); // 50 + 20 (the cap) of the 45

    const periods = [started, second, third].map((changed) => periodOf(changed.subscription));
    expect(await periodGrants(server, userId)).toEqual(
      periods.map(({ start, end }, i) => ({
        key: `subscription:${subscriptionId}:${start}`,
        amount: [50, 55, 70][i],
        expiresAt: iso(end),
        rollover: [0, 5, 20][i],
        source: 'subscription',
      })),
    );
    const expirations = (await ledgerRows(server, userId)).filter((row) => row.type === 'expiration').map((row) => row.amount);
    expect(expirations).toEqual([-5, -45]);
    expect((await mine(sub)).subscriptionStatus).toBe('ACTIVE');
  });

  it('a trial grants the plan’s credits for the trial once, whichever of its events comes first; the first paid period follows', async () => {
    const { server, stripe } = billing;
    const { sub, userId, started, subscriptionId } = await subscriber('trial', 'starter');
    expect(started.subscription.status).toBe('trialing');
    expect(started.invoice!.amount_paid).toBe(0);
    const [created, paid] = startEvents(started);
    expect((await deliver(server, paid!)).body?.outcome).toBe('period-credits');
    expect((await deliver(server, created!)).body?.outcome).toBe('subscription-synced');
    const trialEnd = Number(started.subscription.trial_end);
    expect(await mine(sub)).toMatchObject({ planTier: 'starter', subscriptionStatus: 'TRIALING', currentPeriodEnd: iso(trialEnd), creditBalance: 30 });
    expect(await periodGrants(server, userId)).toEqual([
      { key: `subscription:${subscriptionId}:${started.subscription.trial_start}`, amount: 30, expiresAt: iso(trialEnd), rollover: 0, source: 'trial' },
    ]);

    await spend(sub, 25);
    const firstPaid = stripe.billing.renew(subscriptionId);
    await deliverAll(server, changeEvents(firstPaid));
    expect(await mine(sub)).toMatchObject({ subscriptionStatus: 'ACTIVE', creditBalance: 35 }); // 30 + 5 left of the trial
    expect((await periodGrants(server, userId)).map((grant) => [grant.source, grant.amount, grant.rollover])).toEqual([
      ['trial', 30, 0],
      ['subscription', 35, 5],
    ]);
  });

  it('a failed renewal sets PAST_DUE and grants nothing; the credits granted stay; the retried payment brings the period', async () => {
    const { server, stripe } = billing;
    const { sub, userId, started, subscriptionId } = await subscriber('failed');
    await deliverAll(server, startEvents(started));
    await spend(sub, 10);

    const failed = stripe.billing.renew(subscriptionId, { fail: true });
    const [updated, paymentFailed] = changeEvents(failed);
    expect(paymentFailed!.type).toBe('invoice.payment_failed');
    expect((await deliver(server, paymentFailed!)).body?.outcome).toBe('payment-failed');
    expect((await deliver(server, updated!)).body?.outcome).toBe('subscription-synced');
    expect(await mine(sub)).toMatchObject({ planTier: 'pro', subscriptionStatus: 'PAST_DUE', creditBalance: 40 });
    expect(await periodGrants(server, userId)).toHaveLength(1);

    const retried = stripe.billing.payInvoice(String(failed.invoice!.id));
    await deliverAll(server, changeEvents(retried));
    expect(await mine(sub)).toMatchObject({ planTier: 'pro', subscriptionStatus: 'ACTIVE', creditBalance: 70 }); // 50 + 20 (cap) of 40
    expect((await periodGrants(server, userId)).map((grant) => grant.amount)).toEqual([50, 70]);
  });

  it('a cancel at the period’s end keeps the plan until then; the end returns the account to free and grants nothing', async () => {
    const { server, stripe } = billing;
    const { sub, userId, started, subscriptionId } = await subscriber('cancel_end');
    await deliverAll(server, startEvents(started));
    await deliverAll(server, changeEvents(stripe.billing.setCancelAtPeriodEnd(subscriptionId, true)));
    expect(await mine(sub)).toMatchObject({ planTier: 'pro', subscriptionStatus: 'ACTIVE', cancelAtPeriodEnd: true });

    const ended = stripe.billing.renew(subscriptionId);
    expect(ended.invoice).toBeUndefined();
    const events = changeEvents(ended);
    expect(events.map((event) => event.type)).toEqual(['customer.subscription.deleted']);
    await deliverAll(server, events);
    expect(await mine(sub)).toMatchObject({ planTier: 'free', subscriptionStatus: 'CANCELED', creditBalance: 50 });
    expect(await periodGrants(server, userId)).toHaveLength(1);
    expect((await planRows(userId)).map((row) => row.plan)).toEqual([
      { from: 'free', to: 'pro' },
      { from: 'pro', to: 'free' },
    ]);

    // Subscribing again is allowed once the subscription has ended.
    const again = await subscribe(billing, sub, 'team');
    await deliverAll(server, startEvents(again));
    expect(await mine(sub)).toMatchObject({ planTier: 'team', subscriptionStatus: 'ACTIVE', creditBalance: 250 });
  });

  it('a subscription deleted now returns the account to free at once; the credits it paid for stay until their period ends', async () => {
    const { server, stripe } = billing;
    const { sub, started, subscriptionId } = await subscriber('deleted');
    await deliverAll(server, startEvents(started));
    await deliverAll(server, changeEvents(stripe.billing.cancel(subscriptionId)));
    expect(await mine(sub)).toMatchObject({ planTier: 'free', subscriptionStatus: 'CANCELED', creditBalance: 50, cancelAtPeriodEnd: false });
    expect((await mine(sub)).allowance).toMatchObject({ granted: 50, remaining: 50 });
  });

  it('an upgrade applies at once and its proration invoice tops the period up to the new plan’s credits; a downgrade waits for the next period', async () => {
    const { server, stripe } = billing;
    const { sub, userId, started, subscriptionId } = await subscriber('upgrade');
    await deliverAll(server, startEvents(started));
    await spend(sub, 30);

    const upgraded = stripe.billing.changePrice(subscriptionId, 'price_team_monthly', { invoiceNow: true });
    expect(upgraded.invoice!.billing_reason).toBe('subscription_update');
    await deliverAll(server, changeEvents(upgraded));
    const { start, end } = periodOf(started.subscription);
    expect(await mine(sub)).toMatchObject({ planTier: 'team', creditBalance: 170 }); // 20 left + 150
    expect(await periodGrants(server, userId)).toEqual([
      { key: `subscription:${subscriptionId}:${start}`, amount: 50, expiresAt: iso(end), rollover: 0, source: 'subscription' },
      { key: `subscription:${subscriptionId}:upgrade:${end}:team`, amount: 150, expiresAt: iso(end), rollover: 0, source: 'upgrade' },
    ]);
    expect((await mine(sub)).allowance).toEqual({ periodStart: iso(start), periodEnd: iso(end), granted: 200, used: 30, remaining: 170 });
    // The upgrade's invoice again, and the period's first invoice again: nothing more.
    await deliverAll(server, [stripeEvent('invoice.paid', upgraded.invoice!, upgraded.at), stripeEvent('invoice.paid', started.invoice!, started.at)]);
    expect(await balanceOf(server, userId)).toBe(170);

    const downgraded = stripe.billing.changePrice(subscriptionId, 'price_pro_monthly');
    await deliverAll(server, changeEvents(downgraded));
    expect(await mine(sub)).toMatchObject({ planTier: 'team', scheduledPlanTier: 'pro', creditBalance: 170 });

    const next = stripe.billing.renew(subscriptionId);
    await deliverAll(server, changeEvents(next));
    expect(await mine(sub)).toMatchObject({ planTier: 'pro', scheduledPlanTier: null, creditBalance: 70 }); // 50 + 20 (cap) of 170
    expect((await planRows(userId)).map((row) => row.plan)).toEqual([
      { from: 'free', to: 'pro' },
      { from: 'pro', to: 'team' },
      { from: 'team', to: 'pro' },
    ]);
  });

  it('a yearly plan grants twelve months of credits for its year', async () => {
    const { server } = billing;
    const { userId, started, subscriptionId } = await subscriber('annual', 'annual');
    await deliverAll(server, startEvents(started));
    const { start, end } = periodOf(started.subscription);
    expect(await periodGrants(server, userId)).toEqual([
      { key: `subscription:${subscriptionId}:${start}`, amount: 600, expiresAt: iso(end), rollover: 0, source: 'subscription' },
    ]);
  });

  it('a switch from a monthly to a yearly plan restarts the period: its invoice brings the year’s credits, once', async () => {
    const { server, stripe } = billing;
    const { sub, userId, started, subscriptionId } = await subscriber('to_yearly');
    await deliverAll(server, startEvents(started));
    await spend(sub, 10);
    const switched = stripe.billing.changePrice(subscriptionId, 'price_pro_yearly');
    expect(switched.invoice!.billing_reason).toBe('subscription_update');
    await deliverAll(server, changeEvents(switched));
    const { start, end } = periodOf(switched.subscription);
    expect(end - start).toBeGreaterThan(360 * 24 * 3600);
    const first = periodOf(started.subscription);
    expect(await periodGrants(server, userId)).toEqual([
      { key: `subscription:${subscriptionId}:${first.start}`, amount: 50, expiresAt: iso(first.end), rollover: 0, source: 'subscription' },
      { key: `subscription:${subscriptionId}:${start}`, amount: 600, expiresAt: iso(end), rollover: 0, source: 'subscription' },
    ]);
    // The stand-in's clock runs a second or so ahead of this one: the allowance shows a period once it has begun.
    await waitUntil(async () => Date.now() / 1000 > start + 0.5, { timeoutMs: 5_000, what: 'the new period to begin' });
    const me = await mine(sub);
    expect(me).toMatchObject({ planTier: 'annual' });
    expect(me.allowance).toMatchObject({ periodStart: iso(start), periodEnd: iso(end), granted: 600 });
    // The month's unspent 40 stay until the month's end, as after an upgrade; the year's 600 come with them.
    expect(await balanceOf(server, userId)).toBe(640);
    // The same invoice again: nothing more.
    await deliverAll(server, [stripeEvent('invoice.paid', switched.invoice!, switched.at)]);
    expect(await balanceOf(server, userId)).toBe(640);
  });

  it('reads events in the shape of API versions before 2025-03-31', async () => {
    const { server } = billing;
    const { sub, userId, started, subscriptionId } = await subscriber('legacy');
    billing.stripe.billing.hideSubscriptions = true;
    try {
      await deliverAll(server, [
        stripeEvent('customer.subscription.created', legacyShape(started.subscription), started.at),
        stripeEvent('invoice.paid', legacyShape(started.invoice!), started.at),
      ]);
    } finally {
      billing.stripe.billing.hideSubscriptions = false;
    }
    const { start, end } = periodOf(started.subscription);
    expect(await mine(sub)).toMatchObject({ planTier: 'pro', subscriptionStatus: 'ACTIVE', currentPeriodEnd: iso(end) });
    expect((await periodGrants(server, userId)).map((grant) => grant.key)).toEqual([`subscription:${subscriptionId}:${start}`]);
  });

  describe.each([
    ['fetching the subscription from Stripe', false],
    ['with only the events to go by', true],
  ])('redelivered 5 times, shuffled, 3 at a time, %s', (_label, hidden) => {
    it.each([1, 2, 3])('ends in the same state with exactly the expected grants (seed %i)', async (seed) => {
      const { server, stripe } = billing;
      const { sub, userId, started, subscriptionId } = await subscriber(`storm_${seed}_${hidden}`);
      // A whole life: start, an upgrade with its proration invoice, a renewal, a failed one, its retry, a cancel at the end.
      const upgraded = stripe.billing.changePrice(subscriptionId, 'price_team_monthly', { invoiceNow: true });
      const renewed = stripe.billing.renew(subscriptionId);
      const failed = stripe.billing.renew(subscriptionId, { fail: true });
      const retried = stripe.billing.payInvoice(String(failed.invoice!.id));
      const cancelling = stripe.billing.setCancelAtPeriodEnd(subscriptionId, true);
      const events = [...startEvents(started), ...[upgraded, renewed, failed, retried, cancelling].flatMap(changeEvents)];
      stripe.billing.hideSubscriptions = hidden;
      try {
        const answers = await deliverStorm(server, events, { copies: 5, concurrency: 3, seed });
        expect(answers.filter((answer) => answer.status !== 200)).toEqual([]);
      } finally {
        stripe.billing.hideSubscriptions = false;
      }
      expect(await mine(sub)).toMatchObject({
        planTier: 'team',
        subscriptionStatus: 'ACTIVE',
        cancelAtPeriodEnd: true,
        currentPeriodEnd: iso(periodOf(retried.subscription).end),
      });
      const [first, second, third] = [started, renewed, failed].map((changed) => periodOf(changed.subscription));
      const grants = await periodGrants(server, userId);
      // Whatever the order: the second and third periods' grants, the upgrade's, and the first period's when it came
      // before the upgrade's (otherwise the upgrade gave all of team's credits, and the base had nothing left to give).
      const keys = grants.map((grant) => grant.key);
      expect(new Set(keys).size).toBe(keys.length);
      const expected = [
        `subscription:${subscriptionId}:upgrade:${first!.end}:team`,
        `subscription:${subscriptionId}:${second!.start}`,
        `subscription:${subscriptionId}:${third!.start}`,
      ];
      expect(keys).toEqual(expect.arrayContaining(expected));
      expect(keys.filter((k) => !expected.includes(k))).toEqual(keys.length === 4 ? [`subscription:${subscriptionId}:${first!.start}`] : []);
      const byPeriod = new Map<string, number>();
      for (const grant of grants) byPeriod.set(grant.expiresAt, (byPeriod.get(grant.expiresAt) ?? 0) + grant.amount - grant.rollover);
      expect([...byPeriod.values()]).toEqual([200, 200, 200]);
    });
  });

  it('out of order: `updated` before `created`, and `invoice.paid` before `subscription.created`, end as in order', async () => {
    const { server, stripe } = billing;
    const { sub, userId, started, subscriptionId } = await subscriber('out_of_order');
    const cancelling = stripe.billing.setCancelAtPeriodEnd(subscriptionId, true);
    const [created, paid] = startEvents(started);
    const [updated] = changeEvents(cancelling);
    stripe.billing.hideSubscriptions = true;
    try {
      expect(await deliverAll(server, [paid!, updated!, created!])).toEqual(['period-credits', 'subscription-synced', 'stale']);
    } finally {
      stripe.billing.hideSubscriptions = false;
    }
    expect(await mine(sub)).toMatchObject({ planTier: 'pro', subscriptionStatus: 'ACTIVE', cancelAtPeriodEnd: true, creditBalance: 50 });
    expect(await periodGrants(server, userId)).toHaveLength(1);
  });

  it('two states stamped in the same second: the one further along wins, whichever arrives last', async () => {
    const { server, stripe } = billing;
    const { sub, started } = await subscriber('same_second');
    const active = stripeEvent('customer.subscription.updated', { ...started.subscription, status: 'active' }, started.at);
    const incomplete = stripeEvent('customer.subscription.created', { ...started.subscription, status: 'incomplete' }, started.at);
    stripe.billing.hideSubscriptions = true;
    try {
      expect(await deliverAll(server, [active, incomplete])).toEqual(['subscription-synced', 'stale']);
    } finally {
      stripe.billing.hideSubscriptions = false;
    }
    expect(await mine(sub)).toMatchObject({ planTier: 'pro', subscriptionStatus: 'ACTIVE' });
  });

  it('an older subscription’s end never touches the account a newer one pays for', async () => {
    const { server, stripe } = billing;
    const { sub, started, subscriptionId } = await subscriber('replaced');
    await deliverAll(server, startEvents(started));
    await deliverAll(server, changeEvents(stripe.billing.cancel(subscriptionId)));
    const newer = await subscribe(billing, sub, 'team');
    await deliverAll(server, startEvents(newer));
    // The first subscription's deletion, delivered again late.
    const late = stripeEvent('customer.subscription.deleted', { ...stripe.billing.subscription(subscriptionId) }, started.at + 1);
    stripe.billing.hideSubscriptions = true;
    try {
      expect((await deliver(server, late)).body?.outcome).toBe('ignored');
    } finally {
      stripe.billing.hideSubscriptions = false;
    }
    expect(await mine(sub)).toMatchObject({ planTier: 'team', subscriptionStatus: 'ACTIVE' });
  });

  it('subscribes an organization through its owner; members see its plan and allowance', async () => {
    const { server } = billing;
    const owner = uniqueSub('org_owner');
    const member = uniqueSub('org_member');
    const org = (await server.as(owner).execute(CreateOrganizationDocument, { input: { name: 'Subscribers' } })).data!.createOrganization;
    await server.as(owner).execute(AddOrganizationMemberDocument, { input: { organizationId: org.id, userId: await userIdOf(server, member), role: 'MEMBER' } });
    const started = await subscribe(billing, owner, 'team', org.id);
    expect(started.subscription.metadata).toMatchObject({ accountId: org.id, organizationId: org.id });
    await deliverAll(server, startEvents(started));
    await spend(member, 40, org.id);
    const seen = (await server.as(member).execute(OrganizationSubscriptionDocument, { id: org.id })).data!.organization;
    expect(seen).toMatchObject({ planTier: 'team', subscriptionStatus: 'ACTIVE', creditBalance: 160, allowance: { granted: 200, used: 40, remaining: 160 } });
    expect(await mine(owner)).toMatchObject({ planTier: 'free', subscriptionStatus: null });
  });

  it('opens the billing portal on the account’s customer, back to an allowed origin only', async () => {
    const { server, stripe } = billing;
    const { sub, userId, started } = await subscriber('portal');
    const res = await server.as(sub).execute(CreateBillingPortalSessionDocument, { input: { returnUrl: 'https://app.tally.test/settings' } });
    expect(res.errors).toBeUndefined();
    expect(res.data!.createBillingPortalSession.url).toMatch(/^https:\/\/billing\.stripe\.test\//);
    expect(stripe.billing.portalSessions.at(-1)).toMatchObject({ customer: started.subscription.customer, return_url: 'https://app.tally.test/settings' });
    const [account] = (await server.sql.query('select stripe_customer_id from accounts where id = $1', [userId])).rows;
    expect(account.stripe_customer_id).toBe(started.subscription.customer);
    const evil = await server.as(sub).execute(CreateBillingPortalSessionDocument, { input: { returnUrl: 'https://evil.example/phish' } });
    expect(errorOf(evil)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.returnUrl' });
  });

  it('setPlan: an admin comps a plan, recorded as their PLAN_CHANGE row; refused while a subscription is live, and to non-admins', async () => {
    const { server } = billing;
    const sub = uniqueSub('comped');
    const userId = await userIdOf(server, sub);
    const res = await server.as(ADMIN).execute(SetPlanDocument, { input: { userId, planId: 'team', reason: 'Design partner' } });
    expect(res.errors).toBeUndefined();
    const adminId = await userIdOf(server, ADMIN);
    expect(res.data!.setPlan).toMatchObject({
      id: userId,
      planTier: 'team',
      previousPlanTier: 'free',
      transaction: { type: 'PLAN_CHANGE', amount: 0, balanceAfter: 0, actor: { id: adminId } },
    });
    expect(res.data!.setPlan.transaction!.description).toContain('Design partner');
    expect((await mine(sub)).planTier).toBe('team');
    // The same plan again changes nothing and writes nothing.
    const again = await server.as(ADMIN).execute(SetPlanDocument, { input: { userId, planId: 'team', reason: 'Again' } });
    expect(again.data!.setPlan).toMatchObject({ planTier: 'team', previousPlanTier: 'team', transaction: null });

    expect(codesOf(await server.as(sub).execute(SetPlanDocument, { input: { userId, planId: 'pro', reason: 'Myself' } }))).toEqual(['FORBIDDEN']);
    expect(codesOf(await server.as(ADMIN).execute(SetPlanDocument, { input: { userId, planId: 'gold', reason: 'x' } }))).toEqual(['NOT_FOUND']);
    expect(codesOf(await server.as(ADMIN).execute(SetPlanDocument, { input: { planId: 'pro', reason: 'x' } }))).toEqual(['BAD_USER_INPUT']);

    const { userId: subscribed, started } = await subscriber('comp_live');
    await deliverAll(server, startEvents(started));
    const refused = await server.as(ADMIN).execute(SetPlanDocument, { input: { userId: subscribed, planId: 'team', reason: 'Upsell' } });
    expect(errorOf(refused)).toMatchObject({ code: 'CONFLICT', subscriptionStatus: 'ACTIVE' });
  });

  it('the calendar-month allowance skips accounts a live subscription pays for, and gives a comped plan its credits', async () => {
    const { server } = billing;
    const { userId: subscribed, started } = await subscriber('calendar_subscribed');
    await deliverAll(server, startEvents(started));
    const comped = await userIdOf(server, uniqueSub('calendar_comped'));
    await server.as(ADMIN).execute(SetPlanDocument, { input: { userId: comped, planId: 'pro', reason: 'Partner' } });
    const nextMonth = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth() + 1, 2));
    await grantAllowances(server.orm.em.fork(), nextMonth);
    expect((await periodGrants(server, subscribed)).map((grant) => grant.source)).toEqual(['subscription']);
    const [allowance] = await periodGrants(server, comped);
    expect(allowance).toMatchObject({ key: `allowance:${nextMonth.toISOString().slice(0, 7)}`, amount: 50, source: 'allowance' });
  });

  it('an invoice whose price is no plan’s is not recorded, so a Resend applies it once PLAN_PRICES names it', async () => {
    const { server, stripe } = billing;
    stripe.prices.set('price_mystery', { unit_amount: 700, currency: 'usd', recurring: { interval: 'month' } });
    const { userId, started, subscriptionId } = await subscriber('mystery');
    const mystery = stripe.billing.changePrice(subscriptionId, 'price_mystery');
    const renewed = stripe.billing.renew(subscriptionId);
    const paid = changeEvents(renewed).find((event) => event.type === 'invoice.paid')!;
    const answer = await deliver(server, paid);
    expect(answer).toMatchObject({ status: 200, body: { outcome: 'unknown-price' } });
    expect((await server.sql.query('select 1 from stripe_events where id = $1', [paid.id])).rows).toEqual([]);
    expect(mystery.subscription.id).toBe(started.subscription.id);
    expect(await periodGrants(server, userId)).toEqual([]);
  });
});
