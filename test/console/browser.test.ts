import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { SEED_ORGANIZATION, SEED_SUBSCRIBED_ORGANIZATION, SEED_USERS } from '../../seeders/demo-data.js';
import { runSeed } from '../../src/seed.js';
import { ConsumeCreditsDocument, GrantCreditsDocument, MeDocument } from '../generated/graphql.js';
import { checkout, deliver, stripeEvent, useBilling } from '../support/billing.js';
import { accessibilityViolations, DESKTOP, launchChromium, PHONE, settled, watchProblems } from '../support/browser.js';
import { capture, key, reserve } from '../support/credits.js';
import { accountOf, balanceOf, ledgerRows } from '../support/ledger.js';
import { uniqueSub } from '../support/subjects.js';
import { tokenFor } from '../support/tokens.js';

/**
 * The support console in a real browser (headless Chromium), against the real server with the development seed and
 * the Stripe stand-in: an operator signs in, finds an account, reads it, and acts on it. Every page is checked with
 * axe-core at desktop and phone width, and drawn to docs/ for the README. Set-up seeds through the seed's own code
 * (as `npm run db:seed` does); everything else goes through the page or the API.
 */
const ADMIN_SUBJECT = SEED_USERS.admin.clerkUserId;
/** The README's screenshots are redrawn with UPDATE_DOCS=1; otherwise they go to a temporary folder (and docs/ stays as committed). */
const DOCS = process.env.UPDATE_DOCS === '1' ? path.resolve(import.meta.dirname, '../../docs') : mkdtempSync(path.join(os.tmpdir(), 'tally-console-shots-'));

describe('the support console in Chromium', () => {
  const billing = useBilling({ ADMIN_USER_IDS: ADMIN_SUBJECT });
  let browser: Browser;
  let adminToken: string;
  let page: Page;
  let problems: string[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    await runSeed(billing.server.orm, billing.server.config);
    adminToken = await tokenFor(ADMIN_SUBJECT);
    await mkdir(DOCS, { recursive: true });
  }, 120_000);
  afterAll(() => browser?.close());
  afterEach(async () => {
    await page?.close();
    expect(problems).toEqual([]);
  });

  const url = (route: string) => `${billing.server.url}${route}`;

  async function newPage(viewport = DESKTOP): Promise<Page> {
    page = await browser.newPage({ viewport });
    page.setDefaultTimeout(30_000);
    problems = watchProblems(page);
    return page;
  }

  /** A tab signed in through the link the development banner prints, then on `route`. */
  async function signedIn(route = '/console/', viewport = DESKTOP): Promise<Page> {
    await newPage(viewport);
    await page.goto(url(`/console/#token=${adminToken}`));
    await page.getByRole('heading', { name: 'Find an account' }).waitFor();
    if (route !== '/console/') await page.goto(url(route));
    await settled(page);
    return page;
  }

  const statValue = async (name: string) => Number((await page.locator(`[data-stat="${name}"]`).textContent())!.replace(/,/g, ''));
  const chartLast = async () => Number(await page.locator('svg.chart[data-last-balance]').getAttribute('data-last-balance'));

  async function confirmInDialog(title: RegExp, reason: string, confirm: string, fill?: (dialog: ReturnType<Page['getByRole']>) => Promise<void>) {
    const dialog = page.getByRole('dialog', { name: title });
    await dialog.waitFor();
    await fill?.(dialog);
    await dialog.getByLabel(/^Reason/).fill(reason);
    await dialog.getByRole('button', { name: confirm }).click();
    return dialog;
  }

  describe('signing in', () => {
    it('takes the token from the link, keeps it in sessionStorage and drops it from the address', async () => {
      await signedIn();
      expect(page.url()).toBe(url('/console/'));
      expect(await page.evaluate("sessionStorage.getItem('tally.console.token')")).toBe(adminToken);
      expect(await page.getByText('Signed in as').textContent()).toContain('Ada Example');
      // A reload stays signed in (same tab); signing out forgets the token.
      await page.reload();
      await page.getByRole('heading', { name: 'Find an account' }).waitFor();
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'Sign in to the Tally console' }).waitFor();
      expect(await page.evaluate("sessionStorage.getItem('tally.console.token')")).toBeNull();
    });

    it("refuses a token that is not an admin's, and one the server does not accept, in words", async () => {
      await newPage();
      await page.goto(url('/console/'));
      const token = page.getByLabel('Admin token');
      await token.fill(await tokenFor(SEED_USERS.demo.clerkUserId));
      await page.getByRole('button', { name: 'Sign in' }).click();
      const refusal = page.getByRole('alert');
      await refusal.getByText(/Dana Example, who is not an admin/).waitFor();
      expect(await page.evaluate("sessionStorage.getItem('tally.console.token')")).toBeNull();

      await token.fill('not.a.token');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await refusal.getByText(/not accepted/).waitFor();
      expect(await refusal.textContent()).not.toMatch(/[{}]/);
      // The browser reports the 401 it was answered; that one is expected here.
      problems.splice(0, problems.length, ...problems.filter((problem) => !/status of 401/.test(problem)));

      // The API itself refuses the non-admin, whatever a page does.
      const direct = await billing.server.as(SEED_USERS.demo.clerkUserId).raw({ query: '{ users(first: 1) { edges { node { id } } } }' });
      expect(direct.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    });
  });

  it('finds a seeded user by a part of their email and opens their account', async () => {
    await signedIn();
    await page.getByLabel('Search accounts').fill('DEMO@exam');
    await page.getByLabel('Search accounts').press('Enter');
    await page.waitForURL(/\?q=DEMO%40exam$/);
    await settled(page);
    const users = page.getByRole('region', { name: 'Users' });
    expect(await users.getByRole('link').allTextContents()).toEqual(['Dana Example']);
    await users.getByRole('link', { name: 'Dana Example' }).click();
    await page.getByRole('heading', { level: 1, name: 'Dana Example' }).waitFor();
    expect(page.url()).toBe(url(`/console/users/${SEED_USERS.demo.id}`));
    // The Events page is offered exactly when this server has webhook endpoints.
    const capabilities = (await (await fetch(url('/console/capabilities.json'))).json()) as { query: Record<string, unknown> };
    const events = 'webhookEndpoints' in capabilities.query && 'webhookDeliveries' in capabilities.query;
    expect(await page.getByRole('navigation', { name: 'Console' }).getByRole('link').allTextContents()).toEqual(['Search', 'Audit', ...(events ? ['Events'] : [])]);
    // Organizations by name, from the same box.
    await page.goto(url('/console/?q=acme'));
    await settled(page);
    expect(await page.getByRole('region', { name: 'Organizations' }).getByRole('link').allTextContents()).toEqual([SEED_ORGANIZATION.name]);
  });

  it("shows the account's balance, and the balance chart ends at it", async () => {
    const balance = await balanceOf(billing.server, SEED_USERS.demo.id);
    await signedIn(`/console/users/${SEED_USERS.demo.id}`);
    expect(await statValue('balance')).toBe(balance);
    expect(await chartLast()).toBe(balance);
    expect(await page.locator('.last-balance').textContent()).toBe(`Now: ${balance} credits`);
    // The usage chart and the ledger are there too.
    await page.getByRole('img', { name: /Credits consumed by feature/ }).waitFor();
    expect(await page.getByRole('region', { name: 'Ledger rows, newest first' }).getByRole('row').count()).toBeGreaterThan(1);
  });

  it('filters the ledger and pages through it, newer and older', async () => {
    const { server } = billing;
    const sub = uniqueSub('pages');
    const userId = (await server.as(sub, { email: 'paige@example.com', given_name: 'Paige' }).execute(MeDocument)).data!.me.id;
    await server.as(ADMIN_SUBJECT).execute(GrantCreditsDocument, { input: { userId, amount: 100, reason: 'start', idempotencyKey: key('g') } });
    for (let i = 0; i < 30; i++) {
      const spent = await server.as(sub).execute(ConsumeCreditsDocument, { input: { amount: 1, feature: i % 2 ? 'chat' : 'search', idempotencyKey: `page-${i}` } });
      expect(spent.errors).toBeUndefined();
    }
    await signedIn(`/console/users/${userId}`);
    const ledger = page.getByRole('region', { name: 'Ledger rows, newest first' });
    const balancesAfter = async () => (await ledger.locator('tbody tr td:nth-child(4)').allTextContents()).map(Number);
    expect(await balancesAfter()).toEqual(Array.from({ length: 25 }, (_, i) => 70 + i));
    await page.getByRole('button', { name: 'Older' }).click();
    await settled(page);
    expect(await balancesAfter()).toEqual([95, 96, 97, 98, 99, 100]);
    expect(await page.getByRole('button', { name: 'Older' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Newer' }).click();
    await settled(page);
    expect((await balancesAfter())[0]).toBe(70);

    await page.getByRole('combobox', { name: 'Type' }).selectOption('GRANT');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await settled(page);
    expect(await ledger.locator('tbody tr').count()).toBe(1);
    await page.getByRole('combobox', { name: 'Type' }).selectOption('');
    await page.getByRole('textbox', { name: 'Feature' }).fill('chat');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await settled(page);
    expect(await ledger.locator('tbody tr').count()).toBe(15);
    expect((await ledger.locator('tbody tr td:nth-child(5)').allTextContents()).every((text) => text.endsWith('(chat)'))).toBe(true);

    // Another range redraws the chart, which still ends at the balance.
    await page.getByLabel('Range').selectOption({ label: 'Last 7 days' });
    await settled(page);
    expect(await chartLast()).toBe(70);
  });

  it('passes axe-core on every page at 1280 and 390 px, with no page wider than the screen, and draws them to docs/', async () => {
    const pages: { name: string; route?: string; ready: (page: Page) => Promise<void> }[] = [
      { name: 'sign-in', ready: async () => undefined },
      { name: 'search', route: '/console/?q=example', ready: async () => undefined },
      { name: 'account', route: `/console/users/${SEED_USERS.holds.id}`, ready: async () => undefined },
      { name: 'organization', route: `/console/organizations/${SEED_ORGANIZATION.id}`, ready: async () => undefined },
      { name: 'subscription', route: `/console/organizations/${SEED_SUBSCRIBED_ORGANIZATION.id}`, ready: async () => undefined },
      {
        name: 'audit',
        route: '/console/audit',
        ready: async (p) => {
          await p.getByRole('button', { name: 'Run the audit' }).click();
          await p.getByText(/^Clean: every balance matches its ledger/).waitFor();
        },
      },
      {
        name: 'grant',
        route: `/console/users/${SEED_USERS.demo.id}`,
        ready: async (p) => {
          await p.getByRole('button', { name: 'Grant credits' }).click();
          const dialog = p.getByRole('dialog');
          await dialog.getByLabel('Credits to grant').fill('25');
          await dialog.getByLabel(/^Reason/).fill('Goodwill for the outage on 3 December');
        },
      },
    ];
    for (const [width, viewport] of [['desktop', DESKTOP], ['phone', PHONE]] as const) {
      for (const target of pages) {
        if (target.route) await signedIn(target.route, viewport);
        else {
          await newPage(viewport);
          await page.goto(url('/console/'));
          await page.getByRole('heading', { name: 'Sign in to the Tally console' }).waitFor();
        }
        await target.ready(page);
        await settled(page);
        expect([`${target.name} at ${width}`, await accessibilityViolations(page)]).toEqual([`${target.name} at ${width}`, []]);
        const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
        expect([`${target.name} at ${width} overflows by`, overflow]).toEqual([`${target.name} at ${width} overflows by`, 0]);
        await page.screenshot({ path: path.join(DOCS, `console-${target.name}-${width}.png`), fullPage: target.name !== 'grant' });
        expect(problems).toEqual([]);
        await page.close();
      }
    }
  }, 240_000);

  it('can be used from the keyboard: a skip link, visible focus, and a dialog that gives focus back', async () => {
    await signedIn(`/console/users/${SEED_USERS.demo.id}`);
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement?.id')).toBe('main');
    // Tab on to the grant button, open its dialog with Enter, leave it with Escape.
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      if ((await page.evaluate('document.activeElement?.textContent')) === 'Grant credits') break;
    }
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Grant credits');
    expect(await page.evaluate('getComputedStyle(document.activeElement).outlineStyle')).not.toBe('none');
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: /Grant credits to Dana Example/ });
    await dialog.waitFor();
    expect(await page.evaluate('document.activeElement?.name')).toBe('amount');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Grant credits');
  });

  it('grants credits behind a confirmation; the row appears and the balance, and the chart, change', async () => {
    const before = await balanceOf(billing.server, SEED_USERS.demo.id);
    await signedIn(`/console/users/${SEED_USERS.demo.id}`);
    await page.getByRole('button', { name: 'Grant credits' }).click();
    const dialog = await confirmInDialog(/Grant credits to Dana Example/, 'Goodwill for the outage', 'Grant credits', async (d) => {
      await d.getByLabel('Credits to grant').fill('50');
      await d.getByText(`the balance goes from ${before} to ${before + 50}`).waitFor();
    });
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('status').getByText(`Granted 50 credits; the balance is now ${before + 50}.`).waitFor();
    await settled(page);
    expect(await statValue('balance')).toBe(before + 50);
    expect(await chartLast()).toBe(before + 50);
    const firstRow = page.getByRole('region', { name: 'Ledger rows, newest first' }).getByRole('row').nth(1);
    const text = await firstRow.textContent();
    expect(text).toContain('Grant');
    expect(text).toContain('+50');
    expect(text).toContain('Goodwill for the outage');
    expect(text).toContain('Ada Example');

    const [row] = await ledgerRows(billing.server, SEED_USERS.demo.id).then((rows) => rows.slice(-1));
    expect(row).toMatchObject({ type: 'grant', amount: 50, balance_after: before + 50 });
    const { rows } = await billing.server.sql.query('select actor_id, description from credit_transactions where id = $1', [row!.id]);
    expect(rows[0]).toEqual({ actor_id: SEED_USERS.admin.id, description: 'Goodwill for the outage' });
  });

  it('refunds a completed purchase behind a confirmation, in Stripe and in the ledger', async () => {
    const { server, stripe } = billing;
    const sub = uniqueSub('buyer');
    const me = await server.as(sub, { email: 'bea@example.com', given_name: 'Bea', family_name: 'Buyer' }).execute(MeDocument);
    const userId = me.data!.me.id;
    const session = await checkout(server, sub);
    const paid = stripe.completeSession(session.id, 'paid');
    expect((await deliver(server, stripeEvent('checkout.session.completed', paid))).body?.outcome).toBe('credited');
    expect(await balanceOf(server, userId)).toBe(10);

    await signedIn(`/console/users/${userId}`);
    await page.locator(`[data-refund="${session.transaction!.id}"]`).click();
    const dialog = await confirmInDialog(/Refund purchase/, 'Customer asked within 14 days', 'Refund purchase');
    await dialog.waitFor({ state: 'detached' });
    await page.getByRole('status').getByText(/Refunded: 10 credits removed/).waitFor();
    await settled(page);
    expect(await statValue('balance')).toBe(0);
    const firstRow = await page.getByRole('region', { name: 'Ledger rows, newest first' }).getByRole('row').nth(1).textContent();
    expect(firstRow).toContain('Refund');
    expect(firstRow).toContain('Customer asked within 14 days');
    expect(firstRow).toContain(`Purchase ${session.transaction!.id}`);
    expect(await balanceOf(server, userId)).toBe(0);
    expect(stripe.refunds.map((refund) => refund.payment_intent)).toContain(paid.payment_intent);

    // The same purchase again: the answer is the earlier reversal, and the page says nothing changed.
    const refundsBefore = stripe.refunds.length;
    await page.locator(`[data-refund="${session.transaction!.id}"]`).click();
    const again = await confirmInDialog(/Refund purchase/, 'Asked a second time', 'Refund purchase');
    await again.waitFor({ state: 'detached' });
    await page.getByRole('status').getByText(/Already refunded on .*Customer asked within 14 days.*nothing changed/).waitFor();
    expect(await balanceOf(server, userId)).toBe(0);
    expect((await ledgerRows(server, userId)).filter((row) => row.type === 'refund')).toHaveLength(1);
    expect(stripe.refunds.length).toBe(refundsBefore);
  });

  it('releases a stuck hold behind a confirmation, with the reason kept on the reservation', async () => {
    const { server } = billing;
    const sub = uniqueSub('stuck');
    const userId = (await server.as(sub, { email: 'sam@example.com', given_name: 'Sam' }).execute(MeDocument)).data!.me.id;
    await server.as(ADMIN_SUBJECT).execute(GrantCreditsDocument, { input: { userId, amount: 10, reason: 'start', idempotencyKey: key('g') } });
    const hold = (await reserve(server, sub, 4)).data!.reserveCredits;

    await signedIn(`/console/users/${userId}`);
    expect(await statValue('spendable')).toBe(6);
    await page.locator(`[data-release="${hold.id}"]`).click();
    const dialog = await confirmInDialog(/Release hold/, 'Worker crashed before capturing', 'Release hold');
    await dialog.waitFor({ state: 'detached' });
    await settled(page);
    await page.getByText('No open holds.').waitFor();
    expect(await statValue('spendable')).toBe(10);
    expect(await statValue('held')).toBe(0);
    const { rows } = await server.sql.query('select status, resolution_reason, resolved_by_id from reservations where id = $1', [hold.id]);
    expect(rows[0]).toEqual({ status: 'released', resolution_reason: 'Worker crashed before capturing', resolved_by_id: SEED_USERS.admin.id });
  });

  it("shows the API's refusal in words, not JSON, and changes nothing", async () => {
    const { server } = billing;
    const sub = uniqueSub('race');
    const userId = (await server.as(sub).execute(MeDocument)).data!.me.id;
    await server.as(ADMIN_SUBJECT).execute(GrantCreditsDocument, { input: { userId, amount: 5, reason: 'start', idempotencyKey: key('g') } });
    const hold = (await reserve(server, sub, 3)).data!.reserveCredits;
    await signedIn(`/console/users/${userId}`);
    await page.locator(`[data-release="${hold.id}"]`).click();
    // Captured by its holder while the operator reads the confirmation.
    expect((await capture(server, sub, hold.id, 2)).errors).toBeUndefined();
    const dialog = await confirmInDialog(/Release hold/, 'Looks stuck', 'Release hold');
    const alert = dialog.getByRole('alert');
    await alert.getByText(`Reservation ${hold.id} was already captured (2 credits).`).waitFor();
    expect(await alert.textContent()).not.toMatch(/[{}"]|extensions|RESERVATION_ALREADY_RESOLVED/);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    expect((await accountOf(server, userId)).balance).toBe(3);
  });

  it("changes a plan behind a confirmation, recorded with the reason; a live subscription's is refused in words", async () => {
    const { server } = billing;
    const sub = uniqueSub('plan');
    const userId = (await server.as(sub, { email: 'petra@example.com', given_name: 'Petra' }).execute(MeDocument)).data!.me.id;
    await signedIn(`/console/users/${userId}`);
    await page.getByRole('button', { name: 'Change plan' }).click();
    const dialog = await confirmInDialog(/Change the plan of Petra/, 'Comped for the pilot', 'Change plan', async (d) => {
      await d.getByLabel('New plan').selectOption('pro');
      await d.getByText('Moves Petra from the “free” plan to “pro”.').waitFor();
    });
    await dialog.waitFor({ state: 'detached' });
    await settled(page);
    expect(await page.locator('.facts dd').first().textContent()).toBe('pro');
    const firstRow = await page.getByRole('region', { name: 'Ledger rows, newest first' }).getByRole('row').nth(1).textContent();
    expect(firstRow).toContain('Plan change');
    expect(firstRow).toContain('Comped for the pilot');
    const { rows } = await server.sql.query(`select plan_tier from accounts where id = $1`, [userId]);
    expect(rows[0].plan_tier).toBe('pro');

    // A subscriber's plan follows Stripe: the API refuses, and the page says why.
    await page.goto(url(`/console/users/${SEED_USERS.subscriber.id}`));
    await settled(page);
    expect(await page.locator('.facts').textContent()).toContain('Active');
    await page.getByRole('button', { name: 'Change plan' }).click();
    const refused = await confirmInDialog(/Change the plan of/, 'Trying', 'Change plan', async (d) => {
      await d.getByLabel('New plan').selectOption('free');
    });
    await refused.getByRole('alert').waitFor();
    expect(await refused.getByRole('alert').textContent()).not.toMatch(/[{}]/);
    await page.keyboard.press('Escape');
    await refused.waitFor({ state: 'detached' });
  });

  it('offers the Events page exactly when the server has webhook endpoints, and lists them there', async () => {
    const capabilities = (await (await fetch(url('/console/capabilities.json'))).json()) as { query: Record<string, unknown>; mutation: Record<string, unknown> };
    await signedIn('/console/events');
    if (!('webhookEndpoints' in capabilities.query && 'webhookDeliveries' in capabilities.query)) {
      await page.getByText('This server has no webhook endpoints yet.').waitFor();
      return;
    }
    const created = await billing.server.as(ADMIN_SUBJECT).raw({
      query: 'mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { id } }',
      variables: { input: { url: 'https://hooks.example.com/tally', eventTypes: ['*'], description: 'Billing system' } },
    });
    expect(created.errors).toBeUndefined();
    await page.reload();
    await settled(page);
    await page.getByRole('heading', { name: 'https://hooks.example.com/tally' }).waitFor();
    expect(await accessibilityViolations(page)).toEqual([]);
  });

  it('runs the audit; a drifted account is listed and links to its page', async () => {
    const { server } = billing;
    await signedIn('/console/audit');
    await page.getByRole('button', { name: 'Run the audit' }).click();
    await page.getByText(/^Clean: every balance matches its ledger/).waitFor();

    const sub = uniqueSub('drift');
    const userId = (await server.as(sub, { email: 'drift@example.com', given_name: 'Drew', family_name: 'Drift' }).execute(MeDocument)).data!.me.id;
    await server.sql.query('update accounts set credit_balance = credit_balance + 1 where id = $1', [userId]);
    try {
      await page.getByRole('button', { name: 'Run the audit' }).click();
      await page.getByText(/^Drift: 1 account disagrees/).waitFor();
      await page.getByRole('link', { name: userId }).click();
      await page.getByRole('heading', { level: 1, name: 'Drew Drift' }).waitFor();
      await settled(page);
      await page.getByRole('button', { name: 'Audit this account' }).click();
      await page.getByText(/^Drift: 1 account disagrees/).waitFor();
    } finally {
      await server.sql.query('update accounts set credit_balance = credit_balance - 1 where id = $1', [userId]);
    }
  });
});
