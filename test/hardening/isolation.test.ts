import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ApiUserDetailDocument,
  ApiWorkshopDetailDocument,
  AuditLedgerDocument,
  ConsumeCreditsDocument,
  ConsumeWorkshopCreditDocument,
  CreateWorkshopDocument,
  CreditHistoryDocument,
  GrantCreditsDocument,
  MyTransactionsDocument,
  UserByIdDocument,
  WorkshopsDocument,
} from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { errorOf } from '../support/errors.js';
import { grantAsAdmin, writeCounts } from '../support/ledger.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

describe('isolation between users', () => {
  let server: TestServer;
  const alice = uniqueSub('alice');
  const bob = uniqueSub('bob');
  let aliceId: string;
  let bobId: string;
  let aliceWorkshop: string;
  let aliceTransactionIds: string[];

  beforeAll(async () => {
    server = await startTestServer({ env: { STARTER_CREDITS: '10', ADMIN_USER_IDS: ADMIN_SUB } });
    aliceId = await userIdOf(server, alice);
    bobId = await userIdOf(server, bob);
    aliceWorkshop = (await server.as(alice).execute(CreateWorkshopDocument, { input: { title: "Alice's" } })).data!.createWorkshop.id;
    await server.as(alice).execute(ConsumeWorkshopCreditDocument, { workshopId: aliceWorkshop });
    await server.as(alice).execute(ConsumeCreditsDocument, {
      input: { amount: 2, feature: 'chat', idempotencyKey: 'alice-1', workshopId: aliceWorkshop },
    });
    const history = await server.as(alice).execute(CreditHistoryDocument, { first: 100 });
    aliceTransactionIds = history.data!.creditHistory.edges.map((e) => e.node.id);
    expect(aliceTransactionIds).toHaveLength(3);
  });
  afterAll(() => server.close());

  it("answers another user's workshop with NOT_FOUND, exactly like one that does not exist", async () => {
    const other = await server.as(bob).execute(ApiWorkshopDetailDocument, { id: aliceWorkshop });
    const missing = await server.as(bob).execute(ApiWorkshopDetailDocument, { id: 'ws_doesnotexist000' });
    expect(errorOf(other)?.code).toBe('NOT_FOUND');
    expect(errorOf(missing)?.code).toBe('NOT_FOUND');
    expect(other.data?.workshop ?? null).toBeNull();
    // The owner does see it.
    const own = await server.as(alice).execute(ApiWorkshopDetailDocument, { id: aliceWorkshop });
    expect(own.data?.workshop?.id).toBe(aliceWorkshop);
  });

  it("refuses to charge another user's workshop (NOT_FOUND) and writes nothing", async () => {
    const before = await writeCounts(server);
    const res = await server.as(bob).execute(ConsumeWorkshopCreditDocument, { workshopId: aliceWorkshop });
    expect(errorOf(res)?.code).toBe('NOT_FOUND');
    expect(await writeCounts(server)).toEqual(before);
  });

  it("refuses consumeCredits against another user's workshop (NOT_FOUND) and writes nothing", async () => {
    const before = await writeCounts(server);
    const res = await server.as(bob).execute(ConsumeCreditsDocument, {
      input: { amount: 1, feature: 'chat', idempotencyKey: 'bob-steal', workshopId: aliceWorkshop },
    });
    expect(errorOf(res)?.code).toBe('NOT_FOUND');
    expect(await writeCounts(server)).toEqual(before);
  });

  it("never shows a user another's transactions or workshops", async () => {
    const filtered = await server.as(bob).execute(CreditHistoryDocument, { first: 100, filter: { workshopId: aliceWorkshop } });
    expect(filtered.errors).toBeUndefined();
    expect(filtered.data?.creditHistory.edges).toEqual([]);
    // Alice's own filter on the same workshop does find rows, so the empty answer above is isolation, not a bad filter.
    const own = await server.as(alice).execute(CreditHistoryDocument, { first: 100, filter: { workshopId: aliceWorkshop } });
    expect(own.data?.creditHistory.edges).toHaveLength(2);

    const bobHistory = await server.as(bob).execute(CreditHistoryDocument, { first: 100 });
    const bobIds = bobHistory.data!.creditHistory.edges.map((e) => e.node.id);
    expect(bobIds).toHaveLength(1); // his starter grant
    expect(bobIds.filter((id) => aliceTransactionIds.includes(id))).toEqual([]);
    const bobViaMe = await server.as(bob).execute(MyTransactionsDocument, { first: 100 });
    expect(bobViaMe.data?.me.creditTransactions.edges.map((e) => e.node.id)).toEqual(bobIds);

    const bobWorkshops = await server.as(bob).execute(WorkshopsDocument, { first: 100 });
    expect(bobWorkshops.data?.workshops.edges).toEqual([]);
  });

  it('keeps idempotency keys per user: the same key used by two users writes two rows', async () => {
    const key = 'shared-across-users';
    const a = await server.as(alice).execute(ConsumeCreditsDocument, { input: { amount: 1, feature: 'chat', idempotencyKey: key } });
    const b = await server.as(bob).execute(ConsumeCreditsDocument, { input: { amount: 1, feature: 'chat', idempotencyKey: key } });
    expect(a.data?.consumeCredits.id).toEqual(expect.any(String));
    expect(b.data?.consumeCredits.id).toEqual(expect.any(String));
    expect(a.data?.consumeCredits.id).not.toBe(b.data?.consumeCredits.id);
  });

  describe('admin gating', () => {
    it.each([
      ['grantCredits', (s: TestServer, target: string) => s.as(bob).execute(GrantCreditsDocument, { input: { userId: target, amount: 5, reason: 'self-service', idempotencyKey: 'g1' } })],
      ['user', (s: TestServer, target: string) => s.as(bob).execute(UserByIdDocument, { id: target })],
      ['auditLedger', (s: TestServer) => s.as(bob).execute(AuditLedgerDocument, { userId: null })],
      ['auditLedger(userId)', (s: TestServer, target: string) => s.as(bob).execute(AuditLedgerDocument, { userId: target })],
    ])('%s is FORBIDDEN for a non-admin and writes nothing', async (_name, call) => {
      const before = await writeCounts(server);
      const res = await call(server, bobId);
      expect(errorOf(res)?.code).toBe('FORBIDDEN');
      expect(Object.values(res.data ?? {})).not.toContainEqual(expect.anything());
      expect(await writeCounts(server)).toEqual(before);
    });

    it('grantCredits works for an ADMIN_USER_IDS sub and is idempotent per key', async () => {
      const admin = server.as(ADMIN_SUB);
      const input = { userId: bobId, amount: 7, reason: 'Support goodwill', idempotencyKey: 'support-1' };
      const before = (await server.sql.query('select credit_balance from accounts where id = $1', [bobId])).rows[0].credit_balance;
      const first = await admin.execute(GrantCreditsDocument, { input });
      expect(first.data?.grantCredits).toMatchObject({ type: 'GRANT', status: 'COMPLETED', amount: 7, balanceAfter: before + 7, description: 'Support goodwill' });
      const again = await admin.execute(GrantCreditsDocument, { input });
      expect(again.data?.grantCredits.id).toBe(first.data?.grantCredits.id);
      const conflict = await admin.execute(GrantCreditsDocument, { input: { ...input, amount: 8 } });
      expect(errorOf(conflict)?.code).toBe('IDEMPOTENCY_CONFLICT');
      const { rows } = await server.sql.query('select credit_balance from accounts where id = $1', [bobId]);
      expect(rows[0].credit_balance).toBe(before + 7);
    });

    it('grantCredits to a user that does not exist is NOT_FOUND', async () => {
      const res = await server.as(ADMIN_SUB).execute(GrantCreditsDocument, {
        input: { userId: 'usr_doesnotexist000', amount: 1, reason: 'x', idempotencyKey: 'ghost' },
      });
      expect(errorOf(res)?.code).toBe('NOT_FOUND');
    });

    it("user(id) works for an admin, including the user's workshops and transactions", async () => {
      const res = await server.as(ADMIN_SUB).execute(ApiUserDetailDocument, { id: aliceId, first: 100 });
      expect(res.errors).toBeUndefined();
      expect(res.data?.user).toMatchObject({ id: aliceId, clerkUserId: alice, roles: [] });
      expect(res.data?.user?.workshops.edges.map((e) => e.node.id)).toEqual([aliceWorkshop]);
      expect(res.data?.user?.creditTransactions.edges.map((e) => e.node.id)).toEqual(expect.arrayContaining(aliceTransactionIds));
      const { rows } = await server.sql.query('select credit_balance from accounts where id = $1', [aliceId]);
      expect(res.data?.user?.creditBalance).toBe(rows[0].credit_balance);
      const missing = await server.as(ADMIN_SUB).execute(UserByIdDocument, { id: 'usr_doesnotexist000' });
      expect(missing.errors).toBeUndefined();
      expect(missing.data?.user).toBeNull();
    });

    it('auditLedger works for an admin, for one user and for all', async () => {
      const one = await server.as(ADMIN_SUB).execute(AuditLedgerDocument, { userId: aliceId });
      expect(one.data?.auditLedger).toEqual({ usersChecked: 1, driftedUserIds: [], ok: true });
      const all = await server.as(ADMIN_SUB).execute(AuditLedgerDocument, { userId: null });
      const { rows } = await server.sql.query('select count(*)::int as n from users');
      expect(all.data?.auditLedger).toEqual({ usersChecked: rows[0].n, driftedUserIds: [], ok: true });
    });

    it('auditLedger names a user whose balance drifted from the ledger', async () => {
      // A deliberate out-of-band change, the kind of corruption the audit exists to catch.
      const victim = await userIdOf(server, uniqueSub('drift'));
      await grantAsAdmin(server, victim, 3);
      await server.sql.query('update accounts set credit_balance = credit_balance + 1 where id = $1', [victim]);
      try {
        const res = await server.as(ADMIN_SUB).execute(AuditLedgerDocument, { userId: null });
        expect(res.data?.auditLedger).toMatchObject({ ok: false, driftedUserIds: [victim] });
      } finally {
        await server.sql.query('update accounts set credit_balance = credit_balance - 1 where id = $1', [victim]);
      }
    });
  });
});
