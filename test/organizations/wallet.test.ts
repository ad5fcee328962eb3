import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  AddOrganizationMemberDocument,
  AuditAccountDocument,
  CaptureReservationDocument,
  ConsumeForOrganizationDocument,
  ConsumeWorkshopCreditDocument,
  CreateOrganizationDocument,
  CreateOrganizationWorkshopDocument,
  GrantToOrganizationDocument,
  OrganizationBalanceAtDocument,
  OrganizationByIdDocument,
  OrganizationHistoryDocument,
  OrganizationUsageDocument,
  ReleaseReservationDocument,
  ReserveForOrganizationDocument,
} from '../generated/graphql.js';
import { codesOf, errorOf } from '../support/errors.js';
import { balanceOf, creditProblems, grantAsAdmin } from '../support/ledger.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/** Spending from a shared wallet: every guarantee a personal balance has, plus each member's monthly limit. */
describe('organization wallets', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB } });
  });
  afterAll(() => server.close());

  async function person(label: string) {
    const sub = uniqueSub(label);
    return { sub, id: await userIdOf(server, sub) };
  }

  /** An organization with `credits` in its wallet, its owner, and one member with `limit` (null: none). */
  async function wallet(credits: number, limit: number | null) {
    const owner = await person('owner');
    const member = await person('member');
    const org = (await server.as(owner.sub).execute(CreateOrganizationDocument, { input: { name: 'Team' } })).data!.createOrganization;
    const added = await server.as(owner.sub).execute(AddOrganizationMemberDocument, {
      input: { organizationId: org.id, userId: member.id, role: 'MEMBER', monthlySpendLimit: limit },
    });
    expect(added.errors).toBeUndefined();
    if (credits > 0) {
      const granted = await server.as(ADMIN_SUB).execute(GrantToOrganizationDocument, {
        input: { organizationId: org.id, amount: credits, reason: 'team credits', idempotencyKey: `team-${org.id}` },
      });
      expect(granted.errors).toBeUndefined();
    }
    return { org, owner, member };
  }

  const spend = (sub: string, organizationId: string, amount: number, key: string) =>
    server.as(sub).execute(ConsumeForOrganizationDocument, { input: { amount, feature: 'chat', idempotencyKey: key, organizationId } });

  const memberRow = async (organizationId: string, sub: string) => {
    const res = await server.as(sub).execute(OrganizationByIdDocument, { id: organizationId, first: 100 });
    return res.data!.organization!.members.edges.map((e) => e.node);
  };

  it('40 concurrent spends of 1 by a member limited to 8, from a wallet of 100: exactly 8 succeed', async () => {
    const { org, member } = await wallet(100, 8);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => spend(member.sub, org.id, 1, `burst-${i}`)));
    expect(results.filter((res) => res.data?.consumeCredits)).toHaveLength(8);
    const refused = results.filter((res) => !res.data?.consumeCredits);
    expect(refused).toHaveLength(32);
    for (const res of refused) {
      expect(errorOf(res)).toMatchObject({ code: 'SPEND_LIMIT_EXCEEDED', limit: 8, spent: 8, required: 1 });
    }
    expect(await balanceOf(server, org.id)).toBe(92);
    const members = await memberRow(org.id, member.sub);
    expect(members.find((m) => m.user.id === member.id)).toMatchObject({ spentThisMonth: 8, monthlySpendLimit: 8 });
    expect(await creditProblems(server, org.id)).toEqual([]);
  });

  it('the wallet itself never goes below zero, whatever the limits', async () => {
    const { org, member, owner } = await wallet(10, null);
    const results = await Promise.all(
      Array.from({ length: 15 }, (_, i) => spend(i % 2 ? member.sub : owner.sub, org.id, 1, `drain-${i}`)),
    );
    expect(results.filter((res) => res.data?.consumeCredits)).toHaveLength(10);
    expect(new Set(results.filter((res) => res.errors).map((res) => errorOf(res)?.code))).toEqual(new Set(['INSUFFICIENT_CREDITS']));
    expect(await balanceOf(server, org.id)).toBe(0);
    expect(await creditProblems(server, org.id)).toEqual([]);
  });

  it('counts open holds against the limit, and a capture counts what it charged', async () => {
    const { org, member } = await wallet(100, 10);
    const hold = await server.as(member.sub).execute(ReserveForOrganizationDocument, {
      input: { amount: 7, feature: 'llm.run', idempotencyKey: 'hold-1', organizationId: org.id },
    });
    expect(hold.data!.reserveCredits.status).toBe('HELD');
    // 7 held + 4 would pass 10.
    expect(errorOf(await spend(member.sub, org.id, 4, 'over'))).toMatchObject({ code: 'SPEND_LIMIT_EXCEEDED', held: 7, spent: 0 });
    const tooMuch = await server.as(member.sub).execute(ReserveForOrganizationDocument, {
      input: { amount: 4, feature: 'llm.run', idempotencyKey: 'hold-2', organizationId: org.id },
    });
    expect(errorOf(tooMuch)?.code).toBe('SPEND_LIMIT_EXCEEDED');
    const captured = await server.as(member.sub).execute(CaptureReservationDocument, { id: hold.data!.reserveCredits.id, amount: 5 });
    expect(captured.errors).toBeUndefined();
    // 5 spent, nothing held: 5 more fit, 6 do not.
    expect(errorOf(await spend(member.sub, org.id, 6, 'after-capture-6'))?.code).toBe('SPEND_LIMIT_EXCEEDED');
    expect((await spend(member.sub, org.id, 5, 'after-capture-5')).errors).toBeUndefined();
    const me = (await memberRow(org.id, member.sub)).find((m) => m.user.id === member.id);
    expect(me).toMatchObject({ spentThisMonth: 10, heldCredits: 0 });
    expect(await creditProblems(server, org.id)).toEqual([]);
  });

  it('lets an owner release a stuck hold of a member; the member alone captures it', async () => {
    const { org, owner, member } = await wallet(20, null);
    const hold = await server.as(member.sub).execute(ReserveForOrganizationDocument, {
      input: { amount: 5, feature: 'llm.run', idempotencyKey: 'stuck', organizationId: org.id },
    });
    const id = hold.data!.reserveCredits.id;
    expect(errorOf(await server.as(owner.sub).execute(CaptureReservationDocument, { id, amount: 1 }))?.code).toBe('NOT_FOUND');
    const released = await server.as(owner.sub).execute(ReleaseReservationDocument, { id });
    expect(released.data!.releaseReservation.status).toBe('RELEASED');
    expect(await creditProblems(server, org.id)).toEqual([]);
  });

  it('a member removed while their spend waits behind the removal cannot spend', async () => {
    const { org, member } = await wallet(50, null);
    expect((await spend(member.sub, org.id, 1, 'before')).errors).toBeUndefined();
    const removal = await server.sql.connect();
    try {
      await removal.query('begin');
      await removal.query('select 1 from organizations where id = $1 for update', [org.id]);
      await removal.query(`update organization_members set removed_at = now() where organization_id = $1 and user_id = $2`, [org.id, member.id]);
      const queued = spend(member.sub, org.id, 1, 'queued');
      // The spend waits on the member's row, which the removal holds.
      for (let i = 0; i < 200; i++) {
        const { rows } = await server.sql.query(
          `select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and query like '%organization_members%' and datname = current_database()`,
        );
        if (rows[0].n > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await removal.query('commit');
      expect(errorOf(await queued)?.code).toBe('NOT_FOUND');
    } finally {
      removal.release();
    }
    expect(await balanceOf(server, org.id)).toBe(49);
    expect(errorOf(await spend(member.sub, org.id, 1, 'after'))?.code).toBe('NOT_FOUND');
  });

  it('keeps idempotency keys per account: one key is two operations on two wallets, and conflicts within one', async () => {
    const { org, member } = await wallet(20, null);
    await grantAsAdmin(server, member.id, 20);
    const personal = await server.as(member.sub).execute(ConsumeForOrganizationDocument, { input: { amount: 2, feature: 'chat', idempotencyKey: 'same' } });
    const shared = await spend(member.sub, org.id, 2, 'same');
    expect(personal.data!.consumeCredits.id).not.toBe(shared.data!.consumeCredits.id);
    expect(await balanceOf(server, member.id)).toBe(18);
    expect(await balanceOf(server, org.id)).toBe(18);
    expect((await spend(member.sub, org.id, 2, 'same')).data!.consumeCredits.id).toBe(shared.data!.consumeCredits.id);
    expect(errorOf(await spend(member.sub, org.id, 3, 'same'))?.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(await balanceOf(server, org.id)).toBe(18);
  });

  it('records who spent: the member on the row, the admin on a grant; usage by member; balance at a time', async () => {
    const { org, owner, member } = await wallet(30, null);
    await spend(member.sub, org.id, 3, 'm1');
    await spend(owner.sub, org.id, 2, 'o1');
    await spend(member.sub, org.id, 1, 'm2');
    const history = await server.as(owner.sub).execute(OrganizationHistoryDocument, { id: org.id, first: 10 });
    const rows = history.data!.organization!.creditHistory.edges.map((e) => e.node);
    expect(rows.map((r) => [r.type, r.amount, r.actor?.id ?? null])).toEqual([
      ['CONSUMPTION', -1, member.id],
      ['CONSUMPTION', -2, owner.id],
      ['CONSUMPTION', -3, member.id],
      ['GRANT', 30, expect.any(String)],
    ]);
    const from = new Date(Date.now() - 86_400_000 * 40).toISOString();
    const to = new Date(Date.now() + 86_400_000).toISOString();
    const usage = await server.as(member.sub).execute(OrganizationUsageDocument, { organizationId: org.id, from, to, groupBy: ['FEATURE', 'MEMBER'] });
    const byMember = new Map(usage.data!.creditUsage.map((b) => [b.userId, b.credits]));
    expect(byMember.get(member.id)).toBe(4);
    expect(byMember.get(owner.id)).toBe(2);
    const at = await server.as(member.sub).execute(OrganizationBalanceAtDocument, { organizationId: org.id, time: to });
    expect(at.data!.creditBalanceAt).toBe(24);
    const stranger = await person('stranger');
    expect(errorOf(await server.as(stranger.sub).execute(OrganizationBalanceAtDocument, { organizationId: org.id, time: to }))?.code).toBe('NOT_FOUND');
  });

  it('charges a workshop made for the organization to its wallet, within the creator\u2019s limit', async () => {
    const { org, member } = await wallet(5, 1);
    const workshop = await server.as(member.sub).execute(CreateOrganizationWorkshopDocument, { input: { title: 'Team workshop', organizationId: org.id } });
    expect(workshop.data!.createWorkshop.organizationId).toBe(org.id);
    const charged = await server.as(member.sub).execute(ConsumeWorkshopCreditDocument, { workshopId: workshop.data!.createWorkshop.id });
    expect(charged.errors).toBeUndefined();
    expect(await balanceOf(server, org.id)).toBe(4);
    expect(await balanceOf(server, member.id)).toBe(0);
    const second = await server.as(member.sub).execute(CreateOrganizationWorkshopDocument, { input: { title: 'Another', organizationId: org.id } });
    const refused = await server.as(member.sub).execute(ConsumeWorkshopCreditDocument, { workshopId: second.data!.createWorkshop.id });
    expect(errorOf(refused)?.code).toBe('SPEND_LIMIT_EXCEEDED');
  });

  it('grants need exactly one of userId and organizationId', async () => {
    const { org, member } = await wallet(0, null);
    for (const input of [
      { amount: 1, reason: 'x', idempotencyKey: 'both', userId: member.id, organizationId: org.id },
      { amount: 1, reason: 'x', idempotencyKey: 'none' },
    ]) {
      expect(codesOf(await server.as(ADMIN_SUB).execute(GrantToOrganizationDocument, { input }))).toEqual(['BAD_USER_INPUT']);
    }
    const granted = await server.as(ADMIN_SUB).execute(GrantToOrganizationDocument, { input: { amount: 3, reason: 'x', idempotencyKey: 'one', organizationId: org.id } });
    expect(granted.data!.grantCredits.amount).toBe(3);
  });

  it('audits organization accounts too, naming a drifted one', async () => {
    const { org } = await wallet(10, null);
    const clean = await server.as(ADMIN_SUB).execute(AuditAccountDocument, { organizationId: org.id });
    expect(clean.data!.auditLedger).toEqual({ accountsChecked: 1, driftedAccountIds: [], ok: true });
    await server.sql.query('update accounts set credit_balance = credit_balance + 1 where id = $1', [org.id]);
    try {
      const drifted = await server.as(ADMIN_SUB).execute(AuditAccountDocument, { userId: null });
      expect(drifted.data!.auditLedger.driftedAccountIds).toContain(org.id);
    } finally {
      await server.sql.query('update accounts set credit_balance = credit_balance - 1 where id = $1', [org.id]);
    }
  });
});
