import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  AddOrganizationMemberDocument,
  ConsumeForOrganizationDocument,
  CreateOrganizationDocument,
  MyOrganizationsDocument,
  OrganizationByIdDocument,
  OrganizationHistoryDocument,
  RemoveOrganizationMemberDocument,
  UpdateOrganizationMemberDocument,
} from '../generated/graphql.js';
import { errorOf } from '../support/errors.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/** Organizations through the API: who may see and manage them, and the rules that always hold for their members. */
describe('organizations and members', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB } });
  });
  afterAll(() => server.close());

  async function person(label: string) {
    const sub = uniqueSub(label);
    return { sub, id: await userIdOf(server, sub) };
  }

  async function team() {
    const owner = await person('owner');
    const admin = await person('admin');
    const member = await person('member');
    const created = await server.as(owner.sub).execute(CreateOrganizationDocument, { input: { name: 'Acme' } });
    const org = created.data!.createOrganization;
    for (const [who, role] of [
      [admin, 'ADMIN'],
      [member, 'MEMBER'],
    ] as const) {
      const added = await server.as(owner.sub).execute(AddOrganizationMemberDocument, { input: { organizationId: org.id, userId: who.id, role } });
      expect(added.errors).toBeUndefined();
    }
    return { org, owner, admin, member };
  }

  it('creates an organization whose creator is its OWNER, with an empty wallet on the free plan', async () => {
    const owner = await person('creator');
    const res = await server.as(owner.sub).execute(CreateOrganizationDocument, { input: { name: '  Acme Robotics ' } });
    expect(res.errors).toBeUndefined();
    expect(res.data!.createOrganization).toMatchObject({
      name: 'Acme Robotics',
      creditBalance: 0,
      heldCredits: 0,
      spendableCredits: 0,
      expiringCredits: 0,
      planTier: 'free',
      viewerRole: 'OWNER',
    });
    expect(res.data!.createOrganization.id).toMatch(/^org_/);
    const mine = await server.as(owner.sub).execute(MyOrganizationsDocument);
    expect(mine.data!.me.organizations).toEqual([{ id: res.data!.createOrganization.id, name: 'Acme Robotics', viewerRole: 'OWNER' }]);
  });

  it('lists members with their roles and limits, and pages through them', async () => {
    const { org, owner, admin, member } = await team();
    const page = await server.as(member.sub).execute(OrganizationByIdDocument, { id: org.id, first: 2 });
    expect(page.data!.organization!.viewerRole).toBe('MEMBER');
    const edges = page.data!.organization!.members.edges;
    expect(edges.map((e) => [e.node.user.id, e.node.role])).toEqual([
      [owner.id, 'OWNER'],
      [admin.id, 'ADMIN'],
    ]);
    const next = await server.as(member.sub).execute(OrganizationByIdDocument, { id: org.id, first: 2, after: page.data!.organization!.members.pageInfo.endCursor });
    expect(next.data!.organization!.members.edges.map((e) => e.node.user.id)).toEqual([member.id]);
    expect(next.data!.organization!.members.pageInfo.hasNextPage).toBe(false);
  });

  it('reveals nothing to a stranger: NOT_FOUND for the organization and everything of it', async () => {
    const { org, member } = await team();
    const stranger = await person('stranger');
    const read = await server.as(stranger.sub).execute(OrganizationByIdDocument, { id: org.id });
    expect(read.data?.organization ?? null).toBeNull();
    expect(errorOf(read)?.code).toBe('NOT_FOUND');
    const missing = await server.as(stranger.sub).execute(OrganizationByIdDocument, { id: 'org_doesnotexist1' });
    expect(errorOf(missing)?.code).toBe('NOT_FOUND');
    expect(read.errors?.[0]?.message.replace(org.id, 'X')).toBe(missing.errors?.[0]?.message.replace('org_doesnotexist1', 'X'));
    for (const res of [
      await server.as(stranger.sub).execute(OrganizationHistoryDocument, { id: org.id }),
      await server.as(stranger.sub).execute(ConsumeForOrganizationDocument, { input: { amount: 1, feature: 'chat', idempotencyKey: 'x', organizationId: org.id } }),
      await server.as(stranger.sub).execute(AddOrganizationMemberDocument, { input: { organizationId: org.id, userId: stranger.id, role: 'MEMBER' } }),
      await server.as(stranger.sub).execute(RemoveOrganizationMemberDocument, { organizationId: org.id, userId: member.id }),
    ]) {
      expect(errorOf(res)?.code).toBe('NOT_FOUND');
    }
  });

  it('lets a Tally admin see any organization', async () => {
    const { org } = await team();
    const res = await server.as(ADMIN_SUB).execute(OrganizationByIdDocument, { id: org.id });
    expect(res.data!.organization!.id).toBe(org.id);
  });

  it('lets OWNER and ADMIN manage members; a MEMBER can spend but not manage', async () => {
    const { org, admin, member } = await team();
    const newcomer = await person('newcomer');
    const refused = await server.as(member.sub).execute(AddOrganizationMemberDocument, { input: { organizationId: org.id, userId: newcomer.id, role: 'MEMBER' } });
    expect(errorOf(refused)?.code).toBe('FORBIDDEN');
    const byAdmin = await server.as(admin.sub).execute(AddOrganizationMemberDocument, {
      input: { organizationId: org.id, userId: newcomer.id, role: 'MEMBER', monthlySpendLimit: 25 },
    });
    expect(byAdmin.data!.addOrganizationMember).toMatchObject({ role: 'MEMBER', monthlySpendLimit: 25, spentThisMonth: 0 });
    const again = await server.as(admin.sub).execute(AddOrganizationMemberDocument, { input: { organizationId: org.id, userId: newcomer.id, role: 'MEMBER' } });
    expect(errorOf(again)?.code).toBe('BAD_USER_INPUT');
  });

  it('only an OWNER makes, changes or removes an OWNER', async () => {
    const { org, owner, admin, member } = await team();
    const promote = await server.as(admin.sub).execute(UpdateOrganizationMemberDocument, { input: { organizationId: org.id, userId: member.id, role: 'OWNER' } });
    expect(errorOf(promote)?.code).toBe('FORBIDDEN');
    const demoteOwner = await server.as(admin.sub).execute(UpdateOrganizationMemberDocument, { input: { organizationId: org.id, userId: owner.id, role: 'MEMBER' } });
    expect(errorOf(demoteOwner)?.code).toBe('FORBIDDEN');
    const removeOwner = await server.as(admin.sub).execute(RemoveOrganizationMemberDocument, { organizationId: org.id, userId: owner.id });
    expect(errorOf(removeOwner)?.code).toBe('FORBIDDEN');
    const byOwner = await server.as(owner.sub).execute(UpdateOrganizationMemberDocument, { input: { organizationId: org.id, userId: member.id, role: 'OWNER' } });
    expect(byOwner.data!.updateOrganizationMember.role).toBe('OWNER');
  });

  it('always keeps an OWNER, even when two owners step down at once', async () => {
    const { org, owner, member } = await team();
    await server.as(owner.sub).execute(UpdateOrganizationMemberDocument, { input: { organizationId: org.id, userId: member.id, role: 'OWNER' } });
    const [a, b] = await Promise.all([
      server.as(owner.sub).execute(UpdateOrganizationMemberDocument, { input: { organizationId: org.id, userId: owner.id, role: 'ADMIN' } }),
      server.as(member.sub).execute(UpdateOrganizationMemberDocument, { input: { organizationId: org.id, userId: member.id, role: 'ADMIN' } }),
    ]);
    expect([a, b].filter((res) => res.errors === undefined)).toHaveLength(1);
    const refusedOne = [a, b].find((res) => res.errors !== undefined)!;
    expect(errorOf(refusedOne)?.code).toBe('BAD_USER_INPUT');
    const { rows } = await server.sql.query(`select count(*)::int as n from organization_members where organization_id = $1 and role = 'owner' and removed_at is null`, [org.id]);
    expect(rows[0].n).toBe(1);
    // The last owner cannot leave either.
    const lastOwner = a.errors === undefined ? member : owner;
    const leave = await server.as(lastOwner.sub).execute(RemoveOrganizationMemberDocument, { organizationId: org.id, userId: lastOwner.id });
    expect(errorOf(leave)?.code).toBe('BAD_USER_INPUT');
  });

  it('sets, clears and refuses spend limits; a member may leave; a removed member no longer belongs', async () => {
    const { org, owner, member } = await team();
    const set = await server.as(owner.sub).execute(UpdateOrganizationMemberDocument, { input: { organizationId: org.id, userId: member.id, monthlySpendLimit: 40 } });
    expect(set.data!.updateOrganizationMember).toMatchObject({ role: 'MEMBER', monthlySpendLimit: 40 });
    const keep = await server.as(owner.sub).execute(UpdateOrganizationMemberDocument, { input: { organizationId: org.id, userId: member.id, role: 'MEMBER' } });
    expect(keep.data!.updateOrganizationMember.monthlySpendLimit).toBe(40);
    const cleared = await server.as(owner.sub).execute(UpdateOrganizationMemberDocument, { input: { organizationId: org.id, userId: member.id, clearMonthlySpendLimit: true } });
    expect(cleared.data!.updateOrganizationMember.monthlySpendLimit).toBeNull();
    const negative = await server.as(owner.sub).execute(UpdateOrganizationMemberDocument, { input: { organizationId: org.id, userId: member.id, monthlySpendLimit: -1 } });
    expect(errorOf(negative)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.monthlySpendLimit' });
    const leave = await server.as(member.sub).execute(RemoveOrganizationMemberDocument, { organizationId: org.id, userId: member.id });
    expect(leave.data!.removeOrganizationMember).toBe(true);
    const after = await server.as(member.sub).execute(OrganizationByIdDocument, { id: org.id });
    expect(errorOf(after)?.code).toBe('NOT_FOUND');
    expect((await server.as(member.sub).execute(MyOrganizationsDocument)).data!.me.organizations).toEqual([]);
  });

  it("shows members each other's names, never their credits or history", async () => {
    const { org, member, owner } = await team();
    const res = await server.as(member.sub).raw({
      query: 'query($id: ID!) { organization(id: $id) { members { edges { node { user { id email creditBalance } } } } } }',
      variables: { id: org.id },
    });
    expect(errorOf(res)?.code).toBe('FORBIDDEN');
    const own = await server.as(owner.sub).raw({ query: '{ me { creditBalance } }' });
    expect(own.errors).toBeUndefined();
  });
});
