import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  AddOrganizationMemberDocument,
  CaptureReservationDocument,
  ConsumeCreditsDocument,
  ConsumeForOrganizationDocument,
  ConsumeWorkshopCreditDocument,
  CreateOrganizationDocument,
  CreateOrganizationWorkshopDocument,
  CreateWorkshopDocument,
  CreditBalanceAtDocument,
  CreditHistoryDocument,
  CreditUsageDocument,
  GrantCreditsDocument,
  GrantToOrganizationDocument,
  OrganizationBalanceAtDocument,
  OrganizationHistoryDocument,
  OrganizationUsageDocument,
  ReleaseReservationDocument,
  ReserveCreditsDocument,
  ReserveForOrganizationDocument,
} from '../generated/graphql.js';
import { grantExpiring, inHours, key } from '../support/credits.js';
import { analyzeStatement } from '../support/distribution.js';
import type { GraphQLResponse } from '../support/server.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { statementRecorder } from '../support/statements.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/** A statement as one line, for messages and the exceptions' patterns. */
const oneLine = (sql: string) => sql.replace(/\s+/g, ' ').trim();

/**
 * The statements on an account's paths that a schema distributed by account could not route to the account's node
 * by the statement alone: each excuses the listed problems of the statements it matches (no other problem of theirs),
 * for the reason given. Anything else that leaves the account fails the test; an exception no path needs any more
 * fails it too.
 */
const EXCEPTIONS: { statement: RegExp; problems: string[]; reason: string }[] = [
  {
    statement: /^select u\.\*, a\.credit_balance, .* from users u join accounts a on a\.id = u\.id where u\.clerk_user_id = '[^']*' limit 1$/,
    problems: ['users u is not filtered on id = the account', 'accounts a is not filtered on id = the account'],
    reason: 'the viewer, by the token subject: the request knows no account before it (route by a subject -> account table, or a claim carrying the account)',
  },
  {
    statement: /^select u\.\*, a\.credit_balance, .* from users u join accounts a on a\.id = u\.id where u\.id = any\('\{[^']*\}'::text\[\]\)$/,
    problems: ['users u is not filtered on id = the account', 'accounts a is not filtered on id = the account'],
    reason: "the actors of an account's rows (creditHistory's actor): other users, each read by their own key (a user's id is their account's)",
  },
  {
    statement: /^select \* from reservations where id = 'rsv_[a-z0-9]+'$/,
    problems: ['reservations is not filtered on account_id = the account'],
    reason: 'captureReservation(id) and releaseReservation(id) name only the hold: this read finds its account (route by id: an id -> account table)',
  },
  {
    statement: /^select id, user_id, account_id, title, credit_consumed_at from workshops where id = 'ws_[a-z0-9]+' and deleted_at is null for update$/,
    problems: ['workshops is not filtered on account_id = the account'],
    reason: 'consumeWorkshopCredit(workshopId) names only the workshop: this read finds its account (route by id: an id -> account table)',
  },
  {
    statement: /^with taken as \(select \* from json_to_recordset\('.*'::json\) as d\(grant_id text, amount int\)\), drawn as \(.*\) insert into credit_allocations /,
    problems: ['insert into credit_allocations: the table has no account column'],
    reason:
      'credit_allocations has no account column: its rows are written with the grants they draw on (pinned to the account in the same statement), but sharding it needs account_id added',
  },
];

/**
 * The schema stays distributable by account (Citus-style): every statement of the consumption (personal and
 * organization), history, reservation and grant paths, as PostgreSQL received it, touches an account-keyed table
 * only through its account column equal to the account, or through a join on account columns with a table already
 * so pinned; rows inserted carry the account. Reference tables (credit_packs, plans) are free; the exceptions above
 * are listed with their reasons. Internal by design: it reads the statements themselves.
 */
describe('the account paths stay on one account', () => {
  let server: TestServer;
  const statements = statementRecorder();
  const used = new Set<RegExp>();
  const admin = () => server.as(ADMIN_SUB);

  beforeAll(async () => {
    server = await startTestServer({
      // Every request looks its viewer up (no per-process cache), and the hot statements arrive with their values
      // inlined like the others (prepared, they are the same text with $1, $2... for the values).
      env: { ADMIN_USER_IDS: ADMIN_SUB, STARTER_CREDITS: '0', VIEWER_CACHE_SECONDS: '0', DATABASE_PREPARED_STATEMENTS: 'false' },
      onQuery: statements.onQuery,
    });
    await userIdOf(server, ADMIN_SUB);
  });
  afterAll(() => server.close());

  /** Every statement of `sent` that leaves `accountId` and is no listed exception, with why. */
  function leaving(accountId: string, sent: string[]): string[] {
    const problems: string[] = [];
    for (const sql of sent) {
      const { problems: found } = analyzeStatement(sql, accountId);
      if (found.length === 0) continue;
      const exception = EXCEPTIONS.find((candidate) => candidate.statement.test(oneLine(sql)));
      const left = found.filter((problem) => !exception?.problems.includes(problem));
      if (exception && left.length < found.length) used.add(exception.statement);
      if (left.length > 0) problems.push(`${left.join('; ')}: ${oneLine(sql)}`);
    }
    return problems;
  }

  /** Runs `request` (which must succeed), and returns every statement it sent that leaves `accountId`, with why. */
  async function offAccount(accountId: string, request: () => Promise<GraphQLResponse<unknown>>): Promise<string[]> {
    const { result, sent } = await statements.during(request);
    expect(result.errors).toBeUndefined();
    expect(sent.length).toBeGreaterThan(0);
    return leaving(accountId, sent);
  }

  /** A user (provisioned, so that provisioning stays out of the paths) with `credits`, some expiring when asked. */
  async function user(label: string, credits: { plain?: number; expiring?: number } = {}) {
    const sub = uniqueSub(label);
    const id = await userIdOf(server, sub);
    if (credits.plain) await admin().execute(GrantCreditsDocument, { input: { userId: id, amount: credits.plain, reason: 'test', idempotencyKey: key('g') } });
    if (credits.expiring) await grantExpiring(server, id, credits.expiring, inHours(2));
    return { sub, id };
  }

  /** An organization of `owner` with `member`, holding `credits` (some expiring when asked). */
  async function organization(owner: string, member: string, credits: { plain?: number; expiring?: number }) {
    const org = (await server.as(owner).execute(CreateOrganizationDocument, { input: { name: 'Distributed' } })).data!.createOrganization.id;
    await server.as(owner).execute(AddOrganizationMemberDocument, { input: { organizationId: org, userId: await userIdOf(server, member), role: 'MEMBER', monthlySpendLimit: 1000 } });
    if (credits.plain) await admin().execute(GrantToOrganizationDocument, { input: { organizationId: org, amount: credits.plain, reason: 'test', idempotencyKey: key('g') } });
    if (credits.expiring) {
      await admin().execute(GrantToOrganizationDocument, {
        input: { organizationId: org, amount: credits.expiring, reason: 'test', idempotencyKey: key('g'), expiresAt: inHours(2).toISOString() },
      });
    }
    return org;
  }

  const spend = (sub: string, amount: number, idempotencyKey = key('spend')) =>
    server.as(sub).execute(ConsumeCreditsDocument, { input: { amount, feature: 'chat', idempotencyKey } });

  describe('the check itself', () => {
    const account = 'usr_account';
    const problems = (sql: string) => analyzeStatement(sql, account).problems;

    it('passes statements pinned to the account, directly or through joins and CTEs on account columns', () => {
      expect(problems(`select * from credit_transactions where account_id = 'usr_account' and idempotency_key = 'k'`)).toEqual([]);
      expect(problems(`select g.remaining from credit_grants g join credit_transactions t on t.id = g.transaction_id and t.account_id = g.account_id where g.account_id = 'usr_account'`)).toEqual([]);
      expect(
        problems(`with held as (update accounts set held_credits = held_credits + 1 where id = 'usr_account' returning id)
                  insert into reservations (id, account_id, amount) select 'rsv_1', held.id, 1 from held returning *`),
      ).toEqual([]);
      expect(
        problems(`with r as (update reservations set status = 'released' where id = 'rsv_1' and account_id = 'usr_account' returning account_id, amount)
                  update accounts a set held_credits = a.held_credits - r.amount from r where a.id = r.account_id`),
      ).toEqual([]);
      expect(problems(`select * from credit_packs where id = 'pack_small'`)).toEqual([]);
      expect(problems('begin')).toEqual([]);
    });

    it('fails a statement that leaves the account: by id alone, another account, a join off the key, an OR, an insert elsewhere', () => {
      expect(problems(`select * from credit_transactions where id = 'ctx_1'`)).toEqual(['credit_transactions is not filtered on account_id = the account']);
      expect(problems(`select * from credit_transactions where account_id = 'usr_other'`)).toHaveLength(1);
      expect(problems(`select * from credit_transactions where account_id = 'usr_account' or id = 'ctx_1'`)).toHaveLength(1);
      expect(problems(`select g.remaining from credit_grants g join credit_transactions t on t.id = g.transaction_id where g.account_id = 'usr_account'`)).toEqual([
        'credit_transactions t is not filtered on account_id = the account',
      ]);
      expect(problems(`update credit_grants g set remaining = 0 from (select 'x' as grant_id) taken where g.transaction_id = taken.grant_id`)).toEqual([
        'credit_grants g (changed) is not filtered on account_id = the account',
      ]);
      expect(problems(`insert into credit_transactions (id, account_id, amount) values ('ctx_1', 'usr_other', 1)`)).toEqual([
        'insert into credit_transactions: account_id is not the account',
      ]);
      expect(problems(`select 1 from accounts a where a.id = 'usr_account' and exists (select 1 from events e where e.seq = 1)`)).toEqual([
        'events e is not filtered on account_id = the account',
      ]);
      expect(problems(`select * from stripe_events where id = 'evt_1'`)).toEqual(['stripe_events is neither account-keyed nor a reference table']);
      expect(problems(`insert into credit_allocations (transaction_id, grant_id, amount) values ('ctx_1', 'ctx_2', 1)`)).toEqual([
        'insert into credit_allocations: the table has no account column',
      ]);
    });
  });

  describe('the paths', () => {
    it('personal consumption: the fast path, a retry, a refusal, and the slow path that draws on expiring grants', async () => {
      const fast = await user('dist_fast', { plain: 10 });
      expect(await offAccount(fast.id, () => spend(fast.sub, 3, 'same'))).toEqual([]);
      expect(await offAccount(fast.id, () => spend(fast.sub, 3, 'same'))).toEqual([]);
      const refused = await statements.during(() => spend(fast.sub, 100));
      expect(refused.result.errors?.[0]?.extensions?.code).toBe('INSUFFICIENT_CREDITS');
      expect(leaving(fast.id, refused.sent)).toEqual([]);

      const slow = await user('dist_slow', { plain: 10, expiring: 5 });
      expect(await offAccount(slow.id, () => spend(slow.sub, 8))).toEqual([]);
    });

    it('organization consumption by a member: the fast path and the slow path', async () => {
      const owner = await user('dist_owner');
      const member = await user('dist_member');
      const fastOrg = await organization(owner.sub, member.sub, { plain: 20 });
      const consume = (org: string, amount: number) =>
        server.as(member.sub).execute(ConsumeForOrganizationDocument, { input: { organizationId: org, amount, feature: 'chat', idempotencyKey: key('org') } });
      expect(await offAccount(fastOrg, () => consume(fastOrg, 2))).toEqual([]);
      const slowOrg = await organization(owner.sub, member.sub, { plain: 20, expiring: 5 });
      expect(await offAccount(slowOrg, () => consume(slowOrg, 7))).toEqual([]);
    });

    it('workshop charges, personal and an organization’s', async () => {
      const owner = await user('dist_ws', { plain: 5 });
      const personal = (await server.as(owner.sub).execute(CreateWorkshopDocument, { input: { title: 'Mine' } })).data!.createWorkshop.id;
      expect(await offAccount(owner.id, () => server.as(owner.sub).execute(ConsumeWorkshopCreditDocument, { workshopId: personal }))).toEqual([]);
      // Charged already: answered with the charge row.
      expect(await offAccount(owner.id, () => server.as(owner.sub).execute(ConsumeWorkshopCreditDocument, { workshopId: personal }))).toEqual([]);

      const member = await user('dist_ws_member');
      const org = await organization(owner.sub, member.sub, { plain: 5, expiring: 2 });
      const shared = (await server.as(member.sub).execute(CreateOrganizationWorkshopDocument, { input: { title: 'Ours', organizationId: org } })).data!.createWorkshop.id;
      expect(await offAccount(org, () => server.as(member.sub).execute(ConsumeWorkshopCreditDocument, { workshopId: shared }))).toEqual([]);
    });

    it('history: creditHistory (with actors and workshops), creditBalanceAt and creditUsage, personal and an organization’s', async () => {
      const owner = await user('dist_history', { plain: 20 });
      await spend(owner.sub, 2);
      const workshop = (await server.as(owner.sub).execute(CreateWorkshopDocument, { input: { title: 'Seen' } })).data!.createWorkshop.id;
      await server.as(owner.sub).execute(ConsumeWorkshopCreditDocument, { workshopId: workshop });
      const from = inHours(-24).toISOString();
      const to = inHours(1).toISOString();
      const me = server.as(owner.sub);
      expect(await offAccount(owner.id, () => me.execute(CreditHistoryDocument, { first: 10 }))).toEqual([]);
      expect(await offAccount(owner.id, () => me.execute(CreditBalanceAtDocument, { time: new Date().toISOString() }))).toEqual([]);
      expect(await offAccount(owner.id, () => me.execute(CreditUsageDocument, { from, to, window: 'DAY' }))).toEqual([]);

      const member = await user('dist_history_member');
      const org = await organization(owner.sub, member.sub, { plain: 20 });
      await server.as(member.sub).execute(ConsumeForOrganizationDocument, { input: { organizationId: org, amount: 3, feature: 'chat', idempotencyKey: key('org') } });
      expect(await offAccount(org, () => me.execute(OrganizationHistoryDocument, { id: org, first: 10 }))).toEqual([]);
      expect(await offAccount(org, () => me.execute(OrganizationBalanceAtDocument, { organizationId: org, time: new Date().toISOString() }))).toEqual([]);
      expect(await offAccount(org, () => me.execute(OrganizationUsageDocument, { organizationId: org, from, to, groupBy: ['FEATURE', 'MEMBER'] }))).toEqual([]);
    });

    it('reservations: reserve, capture and release, on the fast and slow paths, personal and an organization’s', async () => {
      for (const credits of [{ plain: 30 }, { plain: 30, expiring: 5 }]) {
        const owner = await user('dist_hold', credits);
        const reserve = (idempotencyKey: string) => server.as(owner.sub).execute(ReserveCreditsDocument, { input: { amount: 5, feature: 'llm', idempotencyKey } });
        expect(await offAccount(owner.id, () => reserve('hold-1'))).toEqual([]);
        expect(await offAccount(owner.id, () => reserve('hold-1'))).toEqual([]);
        const first = (await reserve('hold-1')).data!.reserveCredits.id;
        const second = (await reserve('hold-2')).data!.reserveCredits.id;
        expect(await offAccount(owner.id, () => server.as(owner.sub).execute(CaptureReservationDocument, { id: first, amount: 3 }))).toEqual([]);
        expect(await offAccount(owner.id, () => server.as(owner.sub).execute(ReleaseReservationDocument, { id: second }))).toEqual([]);

        const member = await user('dist_hold_member');
        const org = await organization(owner.sub, member.sub, credits);
        const orgReserve = (idempotencyKey: string) =>
          server.as(member.sub).execute(ReserveForOrganizationDocument, { input: { organizationId: org, amount: 4, feature: 'llm', idempotencyKey } });
        expect(await offAccount(org, () => orgReserve('org-hold-1'))).toEqual([]);
        const held = (await orgReserve('org-hold-1')).data!.reserveCredits.id;
        const other = (await orgReserve('org-hold-2')).data!.reserveCredits.id;
        expect(await offAccount(org, () => server.as(member.sub).execute(CaptureReservationDocument, { id: held, amount: 2 }))).toEqual([]);
        expect(await offAccount(org, () => server.as(member.sub).execute(ReleaseReservationDocument, { id: other }))).toEqual([]);
      }
    });

    it('grants: plain and expiring, to a user and to an organization, and a retried grant', async () => {
      const target = await user('dist_grant');
      const grant = (idempotencyKey: string, expiresAt?: Date) =>
        admin().execute(GrantCreditsDocument, { input: { userId: target.id, amount: 5, reason: 'test', idempotencyKey, expiresAt: expiresAt?.toISOString() ?? null } });
      expect(await offAccount(target.id, () => grant('plain'))).toEqual([]);
      expect(await offAccount(target.id, () => grant('plain'))).toEqual([]);
      expect(await offAccount(target.id, () => grant('expiring', inHours(3)))).toEqual([]);

      const member = await user('dist_grant_member');
      const org = await organization(target.sub, member.sub, {});
      const orgGrant = (idempotencyKey: string, expiresAt?: Date) =>
        admin().execute(GrantToOrganizationDocument, {
          input: { organizationId: org, amount: 5, reason: 'test', idempotencyKey, expiresAt: expiresAt?.toISOString() ?? null },
        });
      expect(await offAccount(org, () => orgGrant('plain'))).toEqual([]);
      expect(await offAccount(org, () => orgGrant('expiring', inHours(3)))).toEqual([]);
    });

    it('needed every listed exception (a stale one is removed, not kept)', () => {
      expect(EXCEPTIONS.filter((exception) => !used.has(exception.statement)).map((exception) => exception.reason)).toEqual([]);
    });
  });
});
