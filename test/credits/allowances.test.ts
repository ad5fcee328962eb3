import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { allowancePeriod, grantAllowances } from '../../src/credits/allowances.js';
import { startCreditJobs } from '../../src/credits/credit-jobs.js';
import { sweepExpired } from '../../src/credits/expiry.js';
import { createLogger } from '../../src/logger.js';
import { CreateOrganizationDocument, SpendCreditsDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { key } from '../support/credits.js';
import { accountOf, creditProblems } from '../support/ledger.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/**
 * Monthly plan allowances, granted by two service instances (two servers, two ORMs) on one database at once, with
 * the clock injected, from the plans table: exactly one allowance grant per account (users' and organizations') and period, and rollover up
 * to the cap. Internal by design:
 * the background jobs are called directly, with the time they run at as a parameter.
 */
describe('plan allowances', () => {
  let first: TestServer;
  let second: TestServer;
  const MARCH = new Date('2031-03-10T12:00:00Z');
  const APRIL = new Date('2031-04-01T00:00:05Z');
  const MAY = new Date('2031-05-01T00:00:01Z');

  const users: Record<string, { sub: string; id: string }> = {};
  const onBoth = (now: Date) =>
    Promise.all([
      grantAllowances(first.orm.em.fork(), now),
      grantAllowances(second.orm.em.fork(), now),
      grantAllowances(first.orm.em.fork(), now),
      grantAllowances(second.orm.em.fork(), now),
    ]);
  const allowanceRows = async (userId: string) =>
    (
      await first.sql.query<{ key: string; amount: number; expires_at: Date }>(
        `select t.idempotency_key as key, t.amount, g.expires_at from credit_transactions t
         join credit_grants g on g.transaction_id = t.id where t.account_id = $1 and t.type = 'grant' order by t.posting_seq`,
        [userId],
      )
    ).rows;
  const expirations = async (userId: string) =>
    (await first.sql.query<{ amount: number }>(`select amount from credit_transactions where account_id = $1 and type = 'expiration' order by posting_seq`, [userId])).rows.map(
      (r) => r.amount,
    );

  beforeAll(async () => {
    // The plans as PLAN_ALLOWANCES would write them (billing/plans.ts): pro 50 and team 20 a month, 15 rolling over.
    first = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB, PLAN_ALLOWANCES: 'pro:50,team:20,free:0', PLAN_ALLOWANCE_ROLLOVER_CAP: '15' } });
    second = await startTestServer({ databaseUrl: first.databaseUrl, env: { ADMIN_USER_IDS: ADMIN_SUB } });
    for (const [label, tier] of [['saver', 'pro'], ['spender', 'pro'], ['idle', 'pro'], ['team', 'team'], ['free', 'free'], ['gone', 'pro']] as const) {
      const sub = uniqueSub(`allow_${label}`);
      const id = await userIdOf(first, sub);
      await first.sql.query('update accounts set plan_tier = $2 where id = $1', [id, tier]);
      users[label] = { sub, id };
    }
    await first.sql.query('update users set deleted_at = now() where id = $1', [users.gone!.id]);
    // An organization on the team plan: allowances apply to it by its plan tier, exactly like a user's.
    const org = await first.as(users.team!.sub).execute(CreateOrganizationDocument, { input: { name: 'Allowance team' } });
    users.org = { sub: users.team!.sub, id: org.data!.createOrganization.id };
    await first.sql.query(`update accounts set plan_tier = 'team' where id = $1`, [users.org.id]);
  });
  afterAll(async () => {
    await second?.close();
    await first?.close();
  });

  it('names each UTC calendar month and its neighbour', () => {
    expect(allowancePeriod(new Date('2031-01-31T23:59:59.999Z'))).toEqual({
      period: '2031-01',
      key: 'allowance:2031-01',
      previousKey: 'allowance:2030-12',
      start: new Date('2031-01-01T00:00:00Z'),
      end: new Date('2031-02-01T00:00:00Z'),
    });
    expect(allowancePeriod(new Date('2031-12-01T00:00:00Z')).end).toEqual(new Date('2032-01-01T00:00:00Z'));
  });

  it('grants each eligible user exactly one allowance per period, however many instances run the job at once', async () => {
    const outcomes = await onBoth(MARCH);
    expect(outcomes.reduce((sum, o) => sum + o.granted, 0)).toBe(5); // saver, spender, idle (pro), team and the organization
    for (const label of ['saver', 'spender', 'idle']) {
      expect(await allowanceRows(users[label]!.id)).toEqual([{ key: 'allowance:2031-03', amount: 50, expires_at: new Date('2031-04-01T00:00:00Z') }]);
    }
    expect(await allowanceRows(users.team!.id)).toEqual([{ key: 'allowance:2031-03', amount: 20, expires_at: new Date('2031-04-01T00:00:00Z') }]);
    expect(await allowanceRows(users.org!.id)).toEqual([{ key: 'allowance:2031-03', amount: 20, expires_at: new Date('2031-04-01T00:00:00Z') }]);
    expect(await allowanceRows(users.free!.id)).toEqual([]);
    expect(await allowanceRows(users.gone!.id)).toEqual([]);
    expect(await accountOf(first, users.saver!.id)).toEqual({ balance: 50, held: 0, expiring: 50 });

    const again = await onBoth(new Date('2031-03-31T23:59:59Z'));
    expect(again.reduce((sum, o) => sum + o.granted, 0)).toBe(0);
  });

  it('at the next period, expires what is left and rolls it over up to the cap, even when the sweeper expired it first', async () => {
    const spend = (label: string, amount: number) =>
      first.as(users[label]!.sub).execute(SpendCreditsDocument, { input: { amount, feature: 'chat', idempotencyKey: key('spend') } });
    expect((await spend('saver', 42)).data?.consumeCredits.balanceAfter).toBe(8);
    expect((await spend('spender', 50)).data?.consumeCredits.balanceAfter).toBe(0);

    // The sweeper of the second instance gets to the lapsed March allowances before the job does.
    await sweepExpired(second.orm.em.fork(), APRIL);
    expect(await expirations(users.idle!.id)).toEqual([-50]);
    const outcomes = await onBoth(APRIL);
    expect(outcomes.reduce((sum, o) => sum + o.granted, 0)).toBe(5);

    expect((await allowanceRows(users.saver!.id)).at(-1)).toEqual({ key: 'allowance:2031-04', amount: 58, expires_at: new Date('2031-05-01T00:00:00Z') });
    expect((await allowanceRows(users.spender!.id)).at(-1)).toMatchObject({ key: 'allowance:2031-04', amount: 50 });
    expect((await allowanceRows(users.idle!.id)).at(-1)).toMatchObject({ key: 'allowance:2031-04', amount: 65 }); // 50 left, cap 15
    expect((await allowanceRows(users.team!.id)).at(-1)).toMatchObject({ key: 'allowance:2031-04', amount: 35 });
    expect(await accountOf(first, users.saver!.id)).toEqual({ balance: 58, held: 0, expiring: 58 });
    expect(await accountOf(first, users.idle!.id)).toEqual({ balance: 65, held: 0, expiring: 65 });
  });

  it('with the job and the sweepers racing, the outcome is the same: one grant, the remainder expired once', async () => {
    const racing = await Promise.all([
      grantAllowances(first.orm.em.fork(), MAY),
      sweepExpired(first.orm.em.fork(), MAY),
      grantAllowances(second.orm.em.fork(), MAY),
      sweepExpired(second.orm.em.fork(), MAY),
    ]);
    expect(racing[0].granted + racing[2].granted).toBe(5);
    expect((await allowanceRows(users.idle!.id)).map((r) => [r.key, r.amount])).toEqual([
      ['allowance:2031-03', 50],
      ['allowance:2031-04', 65],
      ['allowance:2031-05', 65],
    ]);
    expect(await expirations(users.idle!.id)).toEqual([-50, -65]);
    expect(await accountOf(first, users.idle!.id)).toEqual({ balance: 65, held: 0, expiring: 65 });
    for (const { id } of Object.values(users)) expect(await creditProblems(first, id)).toEqual([]);
  });

  it("runs in each instance's background loop, which stops cleanly", async () => {
    const sub = uniqueSub('allow_loop');
    const id = await userIdOf(first, sub);
    await first.sql.query(`update accounts set plan_tier = 'team' where id = $1`, [id]);
    const JUNE = new Date('2031-06-02T00:00:00Z');
    const log = createLogger('silent');
    const loops = [first, second].map((server) =>
      startCreditJobs({ orm: server.orm, log, intervalSeconds: 1, now: () => JUNE }),
    );
    for (let attempt = 0; attempt < 100 && (await allowanceRows(id)).length === 0; attempt++) await new Promise((r) => setTimeout(r, 100));
    await Promise.all(loops.map((loop) => loop.stop()));
    expect((await allowanceRows(id)).map((r) => [r.key, r.amount])).toEqual([['allowance:2031-06', 20]]);
    expect(await creditProblems(first, id)).toEqual([]);
  });
});
