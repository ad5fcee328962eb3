import { describe, expect, it } from '@jest/globals';
import {
  AddOrganizationMemberDocument,
  AdminOrganizationsDocument,
  AdminUsersDocument,
  BalanceAtOfDocument,
  ConsumeCreditsDocument,
  CreateOrganizationDocument,
  GrantCreditsDocument,
  LedgerLinksDocument,
  MyHoldsAndGrantsDocument,
  OrganizationHoldsDocument,
  RefundCreditsDocument,
  ReleaseWithReasonDocument,
  ReserveCreditsDocument,
  UsageOfDocument,
  UserHoldsAndGrantsDocument,
} from '../generated/graphql.js';
import { ADMIN, checkout, deliver, stripeEvent, useBilling } from '../support/billing.js';
import { capture, grantExpiring, inHours, key, reserve } from '../support/credits.js';
import { codesOf, errorOf } from '../support/errors.js';
import { balanceOf } from '../support/ledger.js';
import { uniqueSub, userIdOf } from '../support/subjects.js';

/** What the support console asks of the API: admin lists, admin reads of any account, and admin actions on holds. */
describe('the console API (admin)', () => {
  const billing = useBilling({ ADMIN_USER_IDS: `${ADMIN},user_api_admin` });
  const admin = () => billing.server.as(ADMIN);

  async function person(label: string, claims: Record<string, string>) {
    const sub = uniqueSub(label);
    const id = await userIdOf(billing.server, sub);
    // Claims fill the profile on the first request; userIdOf made it, so send them now.
    await billing.server.as(sub, claims).execute(MyHoldsAndGrantsDocument);
    await billing.server.sql.query('update users set email = $2, first_name = $3, last_name = $4 where id = $1', [id, claims.email, claims.given_name, claims.family_name]);
    return { sub, id };
  }

  describe('users(search, first, after)', () => {
    it('finds users by a part of their email or name in any case, by exact id and token subject, and leaves deleted users out', async () => {
      const marker = key('zq').replace(/-/g, '');
      const ann = await person('ann', { email: `ann.${marker}@Example.com`, given_name: 'Annabel', family_name: `Quist${marker}` });
      const bob = await person('bob', { email: `bob.${marker}@example.com`, given_name: 'Bob', family_name: 'Stone' });
      const gone = await person('gone', { email: `gone.${marker}@example.com`, given_name: 'Gone', family_name: 'Away' });
      await billing.server.sql.query('update users set deleted_at = now() where id = $1', [gone.id]);

      const ids = async (search: string) => ((await admin().execute(AdminUsersDocument, { search, first: 50 })).data?.users.edges ?? []).map((edge) => edge.node.id);
      expect(new Set(await ids(marker.toUpperCase()))).toEqual(new Set([ann.id, bob.id]));
      expect(await ids(`ANNABEL QUIST${marker}`)).toEqual([ann.id]);
      expect(await ids(`ann.${marker}@example`)).toEqual([ann.id]);
      expect(await ids(bob.id)).toEqual([bob.id]);
      expect(await ids(bob.sub)).toEqual([bob.id]);
      expect(await ids(gone.id)).toEqual([]);
      // Wildcards of LIKE are plain characters here.
      expect(await ids(`%${marker}`)).toEqual([]);
      expect(await ids(`_nn.${marker}`)).toEqual([]);
    });

    it('pages newest first with stable cursors, without repeating or skipping anyone', async () => {
      const marker = key('page').replace(/-/g, '');
      const made = [];
      for (let i = 0; i < 5; i++) made.push((await person(`p${i}`, { email: `p${i}.${marker}@example.com`, given_name: 'P', family_name: String(i) })).id);
      const search = (after: string | null) => admin().execute(AdminUsersDocument, { search: marker, first: 2, after });
      const seen: string[] = [];
      let after: string | null = null;
      for (let page = 0; page < 5; page++) {
        const res: Awaited<ReturnType<typeof search>> = await search(after);
        expect(res.errors).toBeUndefined();
        seen.push(...res.data!.users.edges.map((edge) => edge.node.id));
        if (!res.data!.users.pageInfo.hasNextPage) break;
        after = res.data!.users.pageInfo.endCursor ?? null;
      }
      expect(seen).toEqual([...made].reverse());
    });

    it('is for admins only, bounds first and the search, and checks cursors', async () => {
      const sub = uniqueSub('curious');
      expect(codesOf(await billing.server.as(sub).execute(AdminUsersDocument, { first: 5 }))).toEqual(['FORBIDDEN']);
      expect(codesOf(await billing.server.as().execute(AdminUsersDocument, { first: 5 }))).toEqual(['UNAUTHENTICATED']);
      expect(errorOf(await admin().execute(AdminUsersDocument, { first: 101 }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
      expect(errorOf(await admin().execute(AdminUsersDocument, { search: 'x'.repeat(201) }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'search' });
      expect(errorOf(await admin().execute(AdminUsersDocument, { after: 'bm90LWEtY3Vyc29y' }))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
      const blank = await admin().execute(AdminUsersDocument, { search: '   ', first: 1 });
      expect(blank.data?.users.edges).toHaveLength(1);
    });
  });

  describe('organizations(search, first, after)', () => {
    it('finds organizations by a part of their name or their id, pages them, and is for admins only', async () => {
      const owner = uniqueSub('owner');
      const marker = key('org').replace(/-/g, '');
      const made: string[] = [];
      for (const name of [`Acme ${marker}`, `Bolt ${marker}`, `Crane ${marker}`]) {
        const res = await billing.server.as(owner).execute(CreateOrganizationDocument, { input: { name } });
        made.push(res.data!.createOrganization.id);
      }
      const first = await admin().execute(AdminOrganizationsDocument, { search: `bolt ${marker.toUpperCase()}` });
      expect(first.data?.organizations.edges.map((edge) => edge.node)).toEqual([{ id: made[1], name: `Bolt ${marker}`, creditBalance: 0, viewerRole: 'OWNER' }]);
      expect((await admin().execute(AdminOrganizationsDocument, { search: made[2] })).data?.organizations.edges.map((edge) => edge.node.id)).toEqual([made[2]]);

      const page1 = await admin().execute(AdminOrganizationsDocument, { search: marker, first: 2 });
      expect(page1.data?.organizations.pageInfo.hasNextPage).toBe(true);
      const page2 = await admin().execute(AdminOrganizationsDocument, { search: marker, first: 2, after: page1.data!.organizations.pageInfo.endCursor });
      expect([...page1.data!.organizations.edges, ...page2.data!.organizations.edges].map((edge) => edge.node.id)).toEqual([...made].reverse());
      expect(page2.data?.organizations.pageInfo.hasNextPage).toBe(false);

      expect(codesOf(await billing.server.as(owner).execute(AdminOrganizationsDocument, { first: 5 }))).toEqual(['FORBIDDEN']);
    });
  });

  describe("reading another account's history", () => {
    it('lets an admin read any user’s balance at a time and usage, and a user only their own', async () => {
      const sub = uniqueSub('reader');
      const id = await userIdOf(billing.server, sub);
      await admin().execute(GrantCreditsDocument, { input: { userId: id, amount: 9, reason: 'start', idempotencyKey: key('g') } });
      const spent = await billing.server.as(sub).execute(ConsumeCreditsDocument, { input: { amount: 4, feature: 'chat', idempotencyKey: key('c') } });
      expect(spent.errors).toBeUndefined();
      const now = new Date(Date.now() + 1000).toISOString();
      const dayAgo = new Date(Date.now() - 86_400_000).toISOString();

      expect((await admin().execute(BalanceAtOfDocument, { userId: id, time: now })).data?.creditBalanceAt).toBe(5);
      expect((await admin().execute(BalanceAtOfDocument, { userId: id, time: dayAgo })).data?.creditBalanceAt).toBe(0);
      expect((await admin().execute(UsageOfDocument, { userId: id, from: dayAgo, to: now })).data?.creditUsage).toEqual([{ feature: 'chat', credits: 4 }]);
      expect((await billing.server.as(sub).execute(BalanceAtOfDocument, { userId: id, time: now })).data?.creditBalanceAt).toBe(5);

      const stranger = uniqueSub('stranger');
      expect(codesOf(await billing.server.as(stranger).execute(BalanceAtOfDocument, { userId: id, time: now }))).toEqual(['FORBIDDEN']);
      expect(codesOf(await billing.server.as(stranger).execute(UsageOfDocument, { userId: id, from: dayAgo, to: now }))).toEqual(['FORBIDDEN']);
      expect(errorOf(await admin().execute(BalanceAtOfDocument, { userId: id, organizationId: 'org_abc', time: now }))).toMatchObject({ code: 'BAD_USER_INPUT' });
    });
  });

  describe('holds and expiring grants', () => {
    it('lists an account’s open holds and expiring grants to it and to admins, and to nobody else', async () => {
      const sub = uniqueSub('holder');
      const id = await userIdOf(billing.server, sub);
      await admin().execute(GrantCreditsDocument, { input: { userId: id, amount: 20, reason: 'plain', idempotencyKey: key('g') } });
      const expiring = await grantExpiring(billing.server, id, 6, inHours(48));
      expect(expiring.errors).toBeUndefined();
      const hold = (await reserve(billing.server, sub, 5)).data!.reserveCredits;
      const captured = (await reserve(billing.server, sub, 2)).data!.reserveCredits;
      await capture(billing.server, sub, captured.id, 1);

      const read = await admin().execute(UserHoldsAndGrantsDocument, { id, status: 'HELD' });
      expect(read.errors).toBeUndefined();
      expect(read.data?.reservations.edges.map((edge) => edge.node)).toEqual([{ id: hold.id, amount: 5, status: 'HELD', actor: { id } }]);
      // The capture drew on the expiring grant first.
      expect(read.data?.expiringGrants.edges.map((edge) => [edge.node.amount, edge.node.remaining, edge.node.description])).toEqual([[6, 5, 'test grant']]);
      const all = await admin().execute(UserHoldsAndGrantsDocument, { id });
      expect(all.data?.reservations.edges.map((edge) => edge.node.status)).toEqual(['CAPTURED', 'HELD']);

      expect((await billing.server.as(sub).execute(MyHoldsAndGrantsDocument)).data?.reservations.edges).toHaveLength(1);
      const other = uniqueSub('other');
      const otherId = await userIdOf(billing.server, other);
      await billing.server.as(ADMIN).execute(GrantCreditsDocument, { input: { userId: otherId, amount: 1, reason: 'x', idempotencyKey: key('g') } });
      expect(codesOf(await billing.server.as(other).execute(UserHoldsAndGrantsDocument, { id }))).toEqual(['FORBIDDEN']);
    });

    it("shows an organization's holds to its owners and admins, not to its members", async () => {
      const owner = uniqueSub('org-owner');
      const member = uniqueSub('org-member');
      const memberId = await userIdOf(billing.server, member);
      const org = (await billing.server.as(owner).execute(CreateOrganizationDocument, { input: { name: 'Holds Inc' } })).data!.createOrganization;
      await billing.server.as(owner).execute(AddOrganizationMemberDocument, { input: { organizationId: org.id, userId: memberId, role: 'MEMBER' } });
      await admin().execute(GrantCreditsDocument, { input: { organizationId: org.id, amount: 10, reason: 'team', idempotencyKey: key('g') } });
      const held = await billing.server.as(member).execute(ReserveCreditsDocument, { input: { organizationId: org.id, amount: 3, feature: 'job', idempotencyKey: key('h') } });
      expect(held.errors).toBeUndefined();

      for (const reader of [owner, ADMIN]) {
        const res = await billing.server.as(reader).execute(OrganizationHoldsDocument, { id: org.id });
        expect(res.data?.reservations.edges.map((edge) => edge.node)).toEqual([{ id: held.data!.reserveCredits.id, amount: 3, actor: { id: memberId } }]);
      }
      expect(codesOf(await billing.server.as(member).execute(OrganizationHoldsDocument, { id: org.id }))).toEqual(['FORBIDDEN']);
      expect(codesOf(await billing.server.as(uniqueSub('outsider')).execute(OrganizationHoldsDocument, { id: org.id }))).toEqual(['NOT_FOUND']);
    });
  });

  describe('releasing a stuck hold', () => {
    it("lets an admin release another user's hold with a reason, kept on the reservation with who did it", async () => {
      const sub = uniqueSub('stuck');
      const id = await userIdOf(billing.server, sub);
      await admin().execute(GrantCreditsDocument, { input: { userId: id, amount: 10, reason: 'start', idempotencyKey: key('g') } });
      const hold = (await reserve(billing.server, sub, 7)).data!.reserveCredits;
      const adminId = await userIdOf(billing.server, ADMIN);

      const withoutReason = await admin().execute(ReleaseWithReasonDocument, { id: hold.id });
      expect(errorOf(withoutReason)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'reason' });
      const stranger = await billing.server.as(uniqueSub('nosy')).execute(ReleaseWithReasonDocument, { id: hold.id, reason: 'mine now' });
      expect(codesOf(stranger)).toEqual(['NOT_FOUND']);

      const released = await admin().execute(ReleaseWithReasonDocument, { id: hold.id, reason: 'Worker crashed before capturing' });
      expect(released.errors).toBeUndefined();
      expect(released.data?.releaseReservation).toEqual({ id: hold.id, status: 'RELEASED', resolutionReason: 'Worker crashed before capturing', resolvedBy: { id: adminId } });
      const { rows } = await billing.server.sql.query('select held_credits, credit_balance from accounts where id = $1', [id]);
      expect(rows[0]).toEqual({ held_credits: 0, credit_balance: 10 });
      // Again: it is released already, so it is returned as it is.
      expect((await admin().execute(ReleaseWithReasonDocument, { id: hold.id })).data?.releaseReservation.status).toBe('RELEASED');

      // The holder releasing their own needs no reason, and is recorded as who did it.
      const own = (await reserve(billing.server, sub, 1)).data!.reserveCredits;
      const ownRelease = await billing.server.as(sub).execute(ReleaseWithReasonDocument, { id: own.id });
      expect(ownRelease.data?.releaseReservation).toEqual({ id: own.id, status: 'RELEASED', resolutionReason: null, resolvedBy: { id } });
    });
  });

  describe('ledger rows name what they belong to', () => {
    it('a capture names its reservation and a refund its purchase', async () => {
      const { server, stripe } = billing;
      const sub = uniqueSub('links');
      const id = await userIdOf(server, sub);
      const session = await checkout(server, sub);
      expect((await deliver(server, stripeEvent('checkout.session.completed', stripe.completeSession(session.id, 'paid')))).body?.outcome).toBe('credited');
      const hold = (await reserve(server, sub, 3)).data!.reserveCredits;
      await capture(server, sub, hold.id, 2);
      const refund = await admin().execute(RefundCreditsDocument, { input: { transactionId: session.transaction!.id, reason: 'asked' } });
      expect(refund.errors).toBeUndefined();
      expect(await balanceOf(server, id)).toBe(0);

      const rows = (await admin().execute(LedgerLinksDocument, { id })).data!.user!.creditTransactions.edges.map((edge) => edge.node);
      expect(rows.map((row) => [row.type, row.purchaseId, row.reservationId])).toEqual([
        ['REFUND', session.transaction!.id, null],
        ['CONSUMPTION', null, hold.id],
        ['PURCHASE', null, null],
      ]);
    });
  });
});
