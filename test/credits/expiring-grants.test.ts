import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CreditAccountDocument, SpendCreditsDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { Ledger } from '../../src/credits/ledger.js';
import { capture, grantExpiring, inHours, key, release, reserve, sweep } from '../support/credits.js';
import { errorOf } from '../support/errors.js';
import { accountOf, creditProblems, grantAsAdmin, ledgerRows, writeCounts } from '../support/ledger.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/**
 * Grants with an expiry: spent first (soonest first), what is left leaves through an EXPIRATION row, never below held.
 * Partly internal by design: a ledger with an injected clock stands in for time passing.
 */
describe('expiring grants', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB } });
  });
  afterAll(() => server.close());

  const newUser = async (label: string) => {
    const sub = uniqueSub(label);
    return { sub, userId: await userIdOf(server, sub) };
  };
  const spend = (sub: string, amount: number) =>
    server.as(sub).execute(SpendCreditsDocument, { input: { amount, feature: 'chat', idempotencyKey: key('spend') } });
  const allocations = async (userId: string) =>
    (
      await server.sql.query<{ type: string; grant_amount: number; amount: number }>(
        `select t.type, g.amount as grant_amount, a.amount from credit_allocations a
         join credit_transactions t on t.id = a.transaction_id join credit_grants g on g.transaction_id = a.grant_id
         where t.account_id = $1 order by t.posting_seq, g.expires_at`,
        [userId],
      )
    ).rows;

  it('spends the soonest-expiring credits first, then credits that never expire, and records what it drew from', async () => {
    const { sub, userId } = await newUser('order');
    await grantAsAdmin(server, userId, 5); // never expires
    const later = await grantExpiring(server, userId, 4, inHours(48));
    const sooner = await grantExpiring(server, userId, 3, inHours(24));
    expect(later.data?.grantCredits).toMatchObject({ type: 'GRANT', amount: 4, balanceAfter: 9 });
    expect(sooner.data?.grantCredits.balanceAfter).toBe(12);
    expect((await server.as(sub).execute(CreditAccountDocument)).data?.me).toMatchObject({ creditBalance: 12, expiringCredits: 7 });

    expect((await spend(sub, 2)).data?.consumeCredits.balanceAfter).toBe(10); // 2 of the 3 expiring soonest
    expect((await spend(sub, 6)).data?.consumeCredits.balanceAfter).toBe(4); // 1 + 4 + 1 that never expires
    expect(await accountOf(server, userId)).toEqual({ balance: 4, held: 0, expiring: 0 });
    expect(await allocations(userId)).toEqual([
      { type: 'consumption', grant_amount: 3, amount: 2 },
      { type: 'consumption', grant_amount: 3, amount: 1 },
      { type: 'consumption', grant_amount: 4, amount: 4 },
    ]);
    // Nothing expiring is left: the next spend is the one-statement fast path again, and it still works.
    expect((await spend(sub, 4)).data?.consumeCredits.balanceAfter).toBe(0);
    expect(errorOf(await spend(sub, 1))?.code).toBe('INSUFFICIENT_CREDITS');
    expect(await creditProblems(server, userId)).toEqual([]);
  });

  it('expires exactly what is left of a grant when it lapses, through an EXPIRATION row', async () => {
    const { sub, userId } = await newUser('lapse');
    await grantAsAdmin(server, userId, 2);
    await grantExpiring(server, userId, 10, inHours(1));
    await spend(sub, 3);
    expect(await accountOf(server, userId)).toEqual({ balance: 9, held: 0, expiring: 7 });

    const early = await sweep(server, inHours(0.5));
    expect(early.creditsExpired).toBe(0);
    const summary = await sweep(server, inHours(2));
    expect(summary.creditsExpired).toBeGreaterThanOrEqual(7);
    expect(await accountOf(server, userId)).toEqual({ balance: 2, held: 0, expiring: 0 });
    const rows = await ledgerRows(server, userId);
    expect(rows.at(-1)).toMatchObject({ type: 'expiration', status: 'completed', amount: -7, balance_after: 2 });
    expect(await allocations(userId)).toEqual([
      { type: 'consumption', grant_amount: 10, amount: 3 },
      { type: 'expiration', grant_amount: 10, amount: 7 },
    ]);
    const again = await sweep(server, inHours(3));
    expect(again.creditsExpired).toBe(0);
    expect(await ledgerRows(server, userId)).toHaveLength(rows.length);
    expect(await creditProblems(server, userId)).toEqual([]);
  });

  it('an expiration never takes held credits: what a hold needs stays on the grant until the hold resolves', async () => {
    const { sub, userId } = await newUser('held');
    await grantExpiring(server, userId, 10, inHours(1));
    const { id } = (await reserve(server, sub, 6, { ttlSeconds: 6 * 3600 })).data!.reserveCredits;

    await sweep(server, inHours(2));
    // balance 10, held 6: only 4 could expire; 6 stay as the grant's remaining.
    expect(await accountOf(server, userId)).toEqual({ balance: 6, held: 6, expiring: 6 });
    expect(await creditProblems(server, userId)).toEqual([]);

    // The capture draws on what the hold kept; the 2 it did not need expire at the next sweep.
    const captured = await capture(server, sub, id, 4);
    expect(captured.data?.captureReservation.transaction).toMatchObject({ amount: -4, balanceAfter: 2 });
    expect(await accountOf(server, userId)).toEqual({ balance: 2, held: 0, expiring: 2 });
    await sweep(server, inHours(2));
    expect(await accountOf(server, userId)).toEqual({ balance: 0, held: 0, expiring: 0 });
    const types = (await ledgerRows(server, userId)).map((r) => [r.type, r.amount]);
    expect(types).toEqual([
      ['grant', 10],
      ['expiration', -4],
      ['consumption', -4],
      ['expiration', -2],
    ]);
    expect(await creditProblems(server, userId)).toEqual([]);
  });

  it('resolving a hold expires at once what it kept, and the sweeper frees lapsed holds before expiring grants', async () => {
    const a = await newUser('release_expire');
    await grantExpiring(server, a.userId, 9, inHours(1));
    const first = (await reserve(server, a.sub, 5, { ttlSeconds: 6 * 3600 })).data!.reserveCredits;
    const second = (await reserve(server, a.sub, 4, { ttlSeconds: 6 * 3600 })).data!.reserveCredits;
    await sweep(server, inHours(2));
    expect(await accountOf(server, a.userId)).toEqual({ balance: 9, held: 9, expiring: 9 });
    // Lapsed by the server's own clock too: release and capture then expire what the hold had kept, inline.
    await server.sql.query(`update credit_grants set expires_at = now() - interval '1 second' where account_id = $1`, [a.userId]);
    await release(server, a.sub, first.id);
    expect(await accountOf(server, a.userId)).toEqual({ balance: 4, held: 4, expiring: 4 });
    await capture(server, a.sub, second.id, 1);
    expect(await accountOf(server, a.userId)).toEqual({ balance: 0, held: 0, expiring: 0 });
    expect((await ledgerRows(server, a.userId)).map((r) => [r.type, r.amount])).toEqual([
      ['grant', 9],
      ['expiration', -5],
      ['consumption', -1],
      ['expiration', -3],
    ]);

    const b = await newUser('both_lapse');
    await grantExpiring(server, b.userId, 5, inHours(1));
    await grantAsAdmin(server, b.userId, 1);
    await reserve(server, b.sub, 6, { ttlSeconds: 3600 });
    await sweep(server, inHours(3)); // both lapsed: the hold is freed first, so all 5 expire
    expect(await accountOf(server, b.userId)).toEqual({ balance: 1, held: 0, expiring: 0 });
    expect(await creditProblems(server, a.userId)).toEqual([]);
    expect(await creditProblems(server, b.userId)).toEqual([]);
  });

  it('a purchase refund takes spendable credits first, then an open hold, never-expiring ones before expiring grants', async () => {
    const { sub, userId } = await newUser('refund');
    const ledger = new Ledger(server.orm.em.fork(), { workshopCreditCost: 1 });
    const session = key('cs_test');
    await ledger.purchases.recordPending({ accountId: userId, actorId: userId, credits: 10, description: 'Pack of 10', stripeSessionId: session });
    await ledger.purchases.complete(session, null);
    await grantExpiring(server, userId, 6, inHours(24));
    await spend(sub, 8); // 6 from the grant, 2 from the purchase
    await grantExpiring(server, userId, 5, inHours(48));
    const hold = await reserve(server, sub, 4);
    expect(await accountOf(server, userId)).toEqual({ balance: 13, held: 4, expiring: 5 });

    // 10 to reverse: the 9 spendable, then 1 from the open hold; 8 never expire, the other 2 come from the grant.
    const refund = await ledger.purchases.reverse({ purchase: { stripePaymentIntentId: 'none' }, source: { kind: 'refund', cumulativeCredits: 10 }, reason: 'x' });
    expect(refund.outcome).toBe('unknown-purchase');
    const { rows } = await server.sql.query<{ id: string }>(`select id from credit_transactions where stripe_session_id = $1`, [session]);
    const reversed = await ledger.purchases.reverse({ purchase: { id: rows[0]!.id }, source: { kind: 'refund', cumulativeCredits: 10 }, reason: 'Refunded' });
    expect(reversed.transaction).toMatchObject({ type: 'refund', amount: -10, balanceAfter: 3 });
    expect(reversed.transaction?.metadata).toMatchObject({ unrecoveredCredits: 0, takenFromHolds: 1 });
    expect(await accountOf(server, userId)).toEqual({ balance: 3, held: 3, expiring: 3 });
    const { rows: holds } = await server.sql.query('select amount, reversed_amount from reservations where id = $1', [hold.data!.reserveCredits.id]);
    expect(holds).toEqual([{ amount: 3, reversed_amount: 1 }]);
    expect((await allocations(userId)).filter((a) => a.type === 'refund')).toEqual([{ type: 'refund', grant_amount: 5, amount: 2 }]);
    expect(await creditProblems(server, userId)).toEqual([]);
  });

  it('a grant replayed with the same key and expiry returns the original row; a different expiry conflicts', async () => {
    const { userId } = await newUser('grant_key');
    const expiresAt = inHours(24);
    const first = await grantExpiring(server, userId, 3, expiresAt, 'once');
    const again = await grantExpiring(server, userId, 3, expiresAt, 'once');
    expect(again.data?.grantCredits.id).toBe(first.data?.grantCredits.id);
    expect(errorOf(await grantExpiring(server, userId, 3, inHours(25), 'once'))?.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(errorOf(await grantExpiring(server, userId, 3, null, 'once'))?.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(await accountOf(server, userId)).toEqual({ balance: 3, held: 0, expiring: 3 });
  });

  it('rejects an expiry that is not in the future, and a spend key in the allowance job\'s namespace', async () => {
    const { userId, sub } = await newUser('grant_bad');
    const before = await writeCounts(server);
    const past = await grantExpiring(server, userId, 3, new Date(Date.now() - 1000));
    expect(past.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.expiresAt' });
    const far = await grantExpiring(server, userId, 3, inHours(24 * 366 * 11));
    expect(far.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.expiresAt' });
    const spendKey = await server.as(sub).execute(SpendCreditsDocument, { input: { amount: 1, feature: 'chat', idempotencyKey: 'allowance:2030-01' } });
    expect(spendKey.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.idempotencyKey' });
    expect(await writeCounts(server)).toEqual(before);
  });
});
