import type { EntityManager } from '@mikro-orm/postgresql';
import { Seeder } from '@mikro-orm/seeder';
import { isDomainError } from '../src/core/errors.js';
import { Ledger } from '../src/credits/ledger.js';
import { memberSpender, personalSpender } from '../src/credits/spender.js';
import { findPlan } from '../src/billing/plan.model.js';
import { creditsForPeriod, periodKey } from '../src/billing/subscriptions.js';
import {
  SEED_ORGANIZATION,
  SEED_PACKS,
  SEED_SUBSCRIBED_ORGANIZATION,
  SEED_SUBSCRIPTIONS,
  SEED_USERS,
  WORKSHOP_COUNT,
  type DemoUser,
} from './demo-data.js';

/**
 * Development data. Idempotent: rows have fixed ids and every ledger change goes through the ledger with a fixed
 * idempotency key (or a Stripe session id), so a second run adds nothing and every balance equals its ledger.
 */
export class DatabaseSeeder extends Seeder {
  /** Set by the caller; the seed charges workshops at the configured cost. */
  static workshopCreditCost = 1;

  async run(em: EntityManager): Promise<void> {
    const cost = DatabaseSeeder.workshopCreditCost;
    const ledger = new Ledger(em, { workshopCreditCost: cost });
    const u = SEED_USERS;
    for (const pack of SEED_PACKS) {
      await em.execute(
        `insert into credit_packs (id, name, credits, price_cents, currency) values (?, ?, ?, ?, ?) on conflict (id) do nothing`,
        [pack.id, pack.name, pack.credits, pack.priceCents, pack.currency],
      );
    }
    for (const demo of Object.values(u)) await insertUser(em, demo);

    const grant = (who: DemoUser, amount: number, key: string, reason = 'Welcome credits') =>
      ledger.grant({ accountId: who.id, amount, reason, idempotencyKey: `seed:${key}` });
    const consume = (who: DemoUser, amount: number, feature: string, key: string, workshopId?: string) =>
      ledger.consume(personalSpender(who.id), { amount, feature, idempotencyKey: `seed:${key}`, workshopId });
    const purchase = async (who: DemoUser, packIndex: number, session: string, outcome: 'paid' | 'pending' | 'failed', accountId = who.id) => {
      const pack = SEED_PACKS[packIndex]!;
      const existing = await em.execute('select 1 from credit_transactions where stripe_session_id = ?', [session]);
      if (existing.length === 0) {
        await ledger.purchases.recordPending({
          accountId,
          actorId: who.id,
          credits: pack.credits,
          description: `${pack.name} (${pack.credits} credits)`,
          stripeSessionId: session,
          metadata: { packId: pack.id },
        });
      }
      if (outcome === 'paid') return ledger.purchases.complete(session, `pi_${session.slice(3)}`);
      if (outcome === 'failed') return ledger.purchases.fail(session, 'checkout.session.expired');
      return undefined;
    };

    // Demo user: the one the start-up banner prints a token for.
    // Grants that pay for workshop charges scale with WORKSHOP_CREDIT_COST, or a costlier setting fails the seed
    // (and with it the first `npm start`) on INSUFFICIENT_CREDITS. At the default cost the amounts are unchanged.
    await grant(u.demo, Math.max(20, cost), 'demo-welcome');
    await purchase(u.demo, 1, 'cs_seed_demo_1', 'paid');
    await consume(u.demo, 2, 'document_generation', 'demo-doc-1');
    await insertWorkshops(em, u.demo, 3);
    await ledger.chargeWorkshop(u.demo.id, workshopId(u.demo, 1));

    await grant(u.rich, 1000, 'rich-welcome', 'Enterprise trial');
    await grant(u.history, 10, 'history-welcome');
    await purchase(u.history, 2, 'cs_seed_history_1', 'paid');
    for (let i = 1; i <= 12; i++) await consume(u.history, 1 + (i % 3), i % 2 ? 'chat' : 'image.render', `history-${i}`);
    await grant(u.history, 5, 'history-goodwill', 'Goodwill credit');

    await purchase(u.refunded, 2, 'cs_seed_refund_1', 'paid');
    await consume(u.refunded, 4, 'chat', 'refunded-chat');
    await ledger.purchases.reverse({
      purchase: { stripePaymentIntentId: 'pi_seed_refund_1' },
      source: { kind: 'refund', cumulativeCredits: 20 },
      reason: 'Refund requested by customer',
      metadata: { source: 'seed' },
    });

    await grant(u.onboarding, 3, 'onboarding-welcome');
    await insertWorkshops(em, u.workshops, WORKSHOP_COUNT);
    await grant(u.workshops, 10 * cost, 'workshops-welcome');
    for (let i = 1; i <= 10; i++) await ledger.chargeWorkshop(u.workshops.id, workshopId(u.workshops, i));

    await grant(u.exact, cost, 'exact-welcome', 'Exactly one workshop');
    await insertWorkshops(em, u.exact, 1);

    // Reservations and expiring credits: a promotional grant that expires (spent first), one hold still open, one
    // captured for less than it held, one released. Replays on a second run return each as it stands by then.
    await grant(u.holds, 50, 'holds-welcome');
    await ledger.grant({ accountId: u.holds.id, amount: 20, reason: 'Promotional credits', idempotencyKey: 'seed:holds-promo', expiresAt: PROMO_EXPIRES_AT });
    await consume(u.holds, 5, 'chat', 'holds-chat');
    const reserve = (amount: number, feature: string, key: string) =>
      ledger.reservations.reserve(personalSpender(u.holds.id), { amount, feature, idempotencyKey: `seed:${key}`, ttlSeconds: HOLD_TTL_SECONDS });
    await reserve(10, 'video.render', 'holds-open');
    const captured = await reserve(6, 'image.render', 'holds-captured');
    await ledger.reservations.capture({ userId: u.holds.id }, captured.id, 4);
    const released = await reserve(3, 'chat', 'holds-released');
    await ledger.reservations.release({ userId: u.holds.id }, released.id);

    await purchase(u.purchases, 0, 'cs_seed_pending_1', 'pending');
    await purchase(u.purchases, 1, 'cs_seed_failed_1', 'failed');

    await grant(u.admin, 100, 'admin-welcome');

    // A team wallet: the demo user owns it, with an admin and two members (one held to 30 credits a month). The
    // owner bought credits for it, Tally granted some, members spent from it, and one member holds an open hold.
    const org = SEED_ORGANIZATION;
    await insertOrganization(em, org.id, org.name, [
      [u.demo, 'owner', null],
      [u.orgAdmin, 'admin', null],
      [u.orgMember, 'member', 30],
      [u.orgMember2, 'member', null],
    ]);
    await purchase(u.demo, 2, 'cs_seed_org_1', 'paid', org.id);
    await ledger.grant({ accountId: org.id, amount: 50, reason: 'Team onboarding credits', idempotencyKey: 'seed:org-welcome' });
    const spendForTeam = (who: DemoUser, amount: number, feature: string, key: string) =>
      ledger.consume(memberSpender(org.id, who.id), { amount, feature, idempotencyKey: `seed:${key}` });
    await spendForTeam(u.orgMember, 5, 'chat', 'org-chat-1');
    await spendForTeam(u.orgMember2, 3, 'image.render', 'org-image-1');
    await spendForTeam(u.demo, 2, 'document_generation', 'org-doc-1');
    await ledger.reservations.reserve(memberSpender(org.id, u.orgMember2.id), {
      amount: 4,
      feature: 'llm.run',
      idempotencyKey: 'seed:org-hold',
      ttlSeconds: HOLD_TTL_SECONDS,
    });
    // Subscriptions, as Stripe's events would leave them: the plan set, each paid period's credits granted (expiring
    // at the period's end), none for the period whose payment failed.
    const subs = SEED_SUBSCRIPTIONS;
    const globex = SEED_SUBSCRIBED_ORGANIZATION;
    await insertOrganization(em, globex.id, globex.name, [
      [u.globex, 'owner', null],
      [u.orgAdmin, 'member', 200],
    ]);
    await seedSubscription(em, ledger, u.subscriber.id, subs.subscriber, { paidPeriods: 1 });
    await consume(u.subscriber, 120, 'llm.run', 'subscriber-llm');
    await seedSubscription(em, ledger, globex.id, subs.globex, { paidPeriods: 1 });
    await ledger.consume(memberSpender(globex.id, u.orgAdmin.id), { amount: 45, feature: 'image.render', idempotencyKey: 'seed:globex-image' });
    await seedSubscription(em, ledger, u.trial.id, subs.trial, { paidPeriods: 1, trialDays: 14 });
    await seedSubscription(em, ledger, u.pastDue.id, subs.pastDue, { paidPeriods: 1 });

    // Soft deletion keeps the ledger: the user had credits before leaving.
    await grant(u.deleted, 7, 'deleted-welcome').catch(ignoreDeleted);
    await em.execute('update users set deleted_at = ? where id = ? and deleted_at is null', [new Date('2026-11-10T09:00:00Z'), u.deleted.id]);
  }
}

interface SeedSubscription {
  id: string;
  plan: string;
  status: string;
  startedDaysAgo: number;
}

/**
 * An account's Stripe subscription as its events would have left it, through the same ledger calls they make: the
 * plan (a PLAN_CHANGE row), the stored state, and a period grant for each paid period. A past-due subscription's
 * last period is unpaid: it has no grant. Dates come from the first run and are read back on later ones.
 */
async function seedSubscription(em: EntityManager, ledger: Ledger, accountId: string, subscription: SeedSubscription, options: { paidPeriods: number; trialDays?: number }) {
  const DAY = 86_400_000;
  const started = new Date(Math.floor((Date.now() - subscription.startedDaysAgo * DAY) / 1000) * 1000);
  const periodMs = options.trialDays ? options.trialDays * DAY : 30 * DAY;
  const periods = subscription.status === 'past_due' ? options.paidPeriods + 1 : options.paidPeriods;
  const currentStart = new Date(started.getTime() + (periods - 1) * periodMs);
  await em.execute(
    `update accounts set stripe_customer_id = coalesce(stripe_customer_id, ?), stripe_subscription_id = coalesce(stripe_subscription_id, ?),
       subscription_status = coalesce(subscription_status, ?), current_period_start = coalesce(current_period_start, ?),
       current_period_end = coalesce(current_period_end, ?), subscription_created_at = coalesce(subscription_created_at, ?),
       subscription_event_at = coalesce(subscription_event_at, ?)
     where id = ?`,
    [`cus_${subscription.id.slice(4)}`, subscription.id, subscription.status, currentStart, new Date(currentStart.getTime() + periodMs), started, currentStart, accountId],
  );
  const [stored] = await em.execute<{ subscription_created_at: Date }[]>('select subscription_created_at from accounts where id = ?', [accountId]);
  const first = new Date(stored!.subscription_created_at);
  await em.transactional((tx) =>
    new Ledger(tx, { workshopCreditCost: 0 }).changePlan(tx, {
      accountId,
      planId: subscription.plan,
      actorId: null,
      reason: `Stripe subscription ${subscription.id} is ${subscription.status}`,
      metadata: { stripeSubscriptionId: subscription.id, source: 'seed' },
    }),
  );
  const plan = await findPlan(em, subscription.plan);
  for (let n = 0; n < options.paidPeriods && plan; n++) {
    const start = new Date(first.getTime() + n * periodMs);
    const end = new Date(start.getTime() + periodMs);
    await ledger.periods.grant({
      accountId,
      key: periodKey(subscription.id, start),
      plan: plan.id,
      credits: creditsForPeriod(plan, start, end),
      start,
      end,
      rolloverCap: plan.rolloverCap ?? 0,
      subscriptionId: subscription.id,
      label: `${start.toISOString()}/${end.toISOString()}`,
      source: options.trialDays ? 'trial' : 'subscription',
    });
  }
}

/** A fixed date, so that the grant's request is the same on every run (a moved date would be another request). */
const PROMO_EXPIRES_AT = new Date('2027-06-30T00:00:00Z');
/** The open hold lasts a day from the first seed, then the sweeper releases it like any other. */
const HOLD_TTL_SECONDS = 86_400;

/** On a second run the deleted user is already deleted; its grant was made on the first run. */
const ignoreDeleted = (error: unknown) => {
  if (!isDomainError(error, 'NOT_FOUND')) throw error;
};

const workshopId = (demo: DemoUser, n: number) => `ws_seed${demo.clerkUserId.slice(5)}${String(n).padStart(3, '0')}`;

async function insertUser(em: EntityManager, demo: DemoUser) {
  // The personal account first: a user's id is their account's.
  await em.execute(`insert into accounts (id, kind) values (?, 'personal') on conflict (id) do nothing`, [demo.id]);
  await em.execute(
    `insert into users (id, clerk_user_id, email, first_name, last_name, company, roles, onboarding_complete,
       onboarding_completed_at, deleted_at)
     values (?, ?, ?, ?, ?, ?, ?::text[], ?, ?, ?) on conflict (id) do nothing`,
    [
      demo.id,
      demo.clerkUserId,
      demo.email,
      demo.firstName,
      demo.lastName,
      demo.company ?? null,
      `{${(demo.roles ?? []).join(',')}}`,
      demo.onboarded,
      demo.onboarded ? new Date('2026-11-01T09:00:00Z') : null,
      null,
    ],
  );
}

async function insertWorkshops(em: EntityManager, owner: DemoUser, count: number) {
  const statuses = ['draft', 'active', 'paused', 'completed'];
  for (let n = 1; n <= count; n++) {
    await em.execute(
      `insert into workshops (id, user_id, account_id, title, status, created_at, updated_at)
       values (?, ?, ?, ?, ?, ?, ?) on conflict (id) do nothing`,
      [workshopId(owner, n), owner.id, owner.id, `Workshop ${n}`, statuses[n % 4], new Date(Date.UTC(2026, 9, 1, 9, n)), new Date(Date.UTC(2026, 9, 1, 9, n))],
    );
  }
}

async function insertOrganization(em: EntityManager, id: string, name: string, members: [DemoUser, string, number | null][]) {
  await em.execute(`insert into accounts (id, kind) values (?, 'organization') on conflict (id) do nothing`, [id]);
  await em.execute('insert into organizations (id, name) values (?, ?) on conflict (id) do nothing', [id, name]);
  for (const [who, role, limit] of members) {
    await em.execute(
      `insert into organization_members (organization_id, user_id, role, monthly_spend_limit) values (?, ?, ?, ?)
       on conflict (organization_id, user_id) do nothing`,
      [id, who.id, role, limit],
    );
  }
}
