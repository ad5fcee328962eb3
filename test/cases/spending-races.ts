import { expect, it } from '@jest/globals';
import { ConsumeCreditsDocument, ConsumeWorkshopCreditDocument, CreateWorkshopDocument, MeDocument, ApiWorkshopDetailDocument } from '../generated/graphql.js';
import { errorOf } from '../support/errors.js';
import { balanceOf, creditProblems, ledgerRows } from '../support/ledger.js';
import type { TestServer } from '../support/server.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/** What the servers of `spendingRaces` run with: 10 starter credits for each new user. */
export const SPENDING_RACES_ENV = { STARTER_CREDITS: '10', ADMIN_USER_IDS: ADMIN_SUB };

/**
 * Races fired with Promise.all against real servers; outcomes are asserted, never durations. `instances` are the
 * servers (one, or several on one database): request i of a race goes to instance i mod n, so with two instances
 * every race is fought between them.
 */
export function spendingRaces(instances: () => TestServer[]) {
  const on = (i: number) => instances()[i % instances().length]!;
  const first = () => on(0);

  it('50 concurrent spends of 1 against a balance of 10: 10 succeed, 40 are INSUFFICIENT_CREDITS, balance 0', async () => {
    const sub = uniqueSub('race50');
    const userId = await userIdOf(first(), sub);
    expect(await balanceOf(first(), userId)).toBe(10);

    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        on(i).as(sub).execute(ConsumeCreditsDocument, { input: { amount: 1, feature: 'chat', idempotencyKey: `race-${i}` } }),
      ),
    );

    const completed = results.filter((r) => r.data?.consumeCredits);
    const refused = results.filter((r) => errorOf(r)?.code === 'INSUFFICIENT_CREDITS');
    expect(completed).toHaveLength(10);
    expect(refused).toHaveLength(40);
    for (const r of refused) expect(r.errors?.[0]?.extensions).toMatchObject({ balance: 0, required: 1 });
    // Each success saw a different balance: 9, 8, ..., 0.
    expect(completed.map((r) => r.data!.consumeCredits.balanceAfter).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

    const rows = await ledgerRows(first(), userId);
    expect(rows.filter((r) => r.type === 'consumption' && r.status === 'completed')).toHaveLength(10);
    expect(rows).toHaveLength(11); // the starter grant and the 10 spends; refusals wrote nothing
    expect(await balanceOf(first(), userId)).toBe(0);
    expect(await creditProblems(first(), userId)).toEqual([]);
  });

  it('20 concurrent calls with one idempotency key write one row and all answer with its id', async () => {
    const sub = uniqueSub('samekey');
    const userId = await userIdOf(first(), sub);
    const input = { amount: 3, feature: 'document_generation', idempotencyKey: 'doc-42', description: 'Report' };

    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => on(i).as(sub).execute(ConsumeCreditsDocument, { input })));

    expect(results.map((r) => r.errors)).toEqual(Array(20).fill(undefined));
    const ids = new Set(results.map((r) => r.data!.consumeCredits.id));
    expect(ids.size).toBe(1);
    const rows = (await ledgerRows(first(), userId)).filter((r) => r.idempotency_key === 'doc-42');
    expect(rows.map((r) => r.id)).toEqual([...ids]);
    expect(await balanceOf(first(), userId)).toBe(7);
    expect(await creditProblems(first(), userId)).toEqual([]);
  });

  it('concurrent duplicates that spend the whole balance still all return the one row', async () => {
    const sub = uniqueSub('samekey_all');
    const userId = await userIdOf(first(), sub);
    const input = { amount: 10, feature: 'chat', idempotencyKey: 'spend-all' };

    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => on(i).as(sub).execute(ConsumeCreditsDocument, { input })));

    // The losers find the balance at 0, but the key's row answers them rather than INSUFFICIENT_CREDITS.
    expect(results.map((res) => errorOf(res)?.code)).toEqual(Array(20).fill(undefined));
    expect(new Set(results.map((r) => r.data!.consumeCredits.id)).size).toBe(1);
    expect(await balanceOf(first(), userId)).toBe(0);
    expect((await ledgerRows(first(), userId)).filter((r) => r.type === 'consumption')).toHaveLength(1);
  });

  it('concurrent reuse of one key with two different inputs: one row; matching requests get it, others IDEMPOTENCY_CONFLICT', async () => {
    const sub = uniqueSub('conflict');
    const userId = await userIdOf(first(), sub);
    const inputs = Array.from({ length: 20 }, (_, i) => ({ amount: i % 2 === 0 ? 1 : 2, feature: 'chat', idempotencyKey: 'shared' }));

    // Every other request goes to the other instance: each input is sent through both.
    const results = await Promise.all(inputs.map((input, i) => on(i >> 1).as(sub).execute(ConsumeCreditsDocument, { input })));

    const rows = (await ledgerRows(first(), userId)).filter((r) => r.idempotency_key === 'shared');
    expect(rows).toHaveLength(1);
    const winner = rows[0]!;
    results.forEach((res, i) => {
      if (-winner.amount === inputs[i]!.amount) expect(res.data?.consumeCredits.id).toBe(winner.id);
      else expect(errorOf(res)?.code).toBe('IDEMPOTENCY_CONFLICT');
    });
    expect(await balanceOf(first(), userId)).toBe(10 + winner.amount);
    expect(await creditProblems(first(), userId)).toEqual([]);
  });

  it('20 concurrent consumeWorkshopCredit for one workshop: one charge, one id, creditConsumedAt set', async () => {
    const sub = uniqueSub('workshop');
    const userId = await userIdOf(first(), sub);
    const created = await first().as(sub).execute(CreateWorkshopDocument, { input: { title: 'Race' } });
    const workshopId = created.data!.createWorkshop.id;

    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => on(i).as(sub).execute(ConsumeWorkshopCreditDocument, { workshopId })));

    expect(results.map((r) => r.errors)).toEqual(Array(20).fill(undefined));
    const ids = new Set(results.map((r) => r.data!.consumeWorkshopCredit.id));
    expect(ids.size).toBe(1);
    const charges = (await ledgerRows(first(), userId)).filter((r) => r.workshop_id === workshopId);
    expect(charges.map((r) => r.id)).toEqual([...ids]);
    expect(charges[0]).toMatchObject({ type: 'consumption', status: 'completed', amount: -1, feature: 'workshop' });
    expect(await balanceOf(first(), userId)).toBe(9);

    const detail = await on(1).as(sub).execute(ApiWorkshopDetailDocument, { id: workshopId });
    expect(detail.data?.workshop?.creditConsumedAt).toEqual(expect.any(String));
    expect(detail.data?.workshop?.creditTransactions.map((t) => t.id)).toEqual([...ids]);
    expect(await creditProblems(first(), userId)).toEqual([]);
  });

  it('concurrent charges of two workshops with credit for one: exactly one is charged', async () => {
    const sub = uniqueSub('two_ws');
    const userId = await userIdOf(first(), sub);
    const client = first().as(sub);
    const spent = await client.execute(ConsumeCreditsDocument, { input: { amount: 9, feature: 'chat', idempotencyKey: 'leave-one' } });
    expect(spent.data?.consumeCredits.balanceAfter).toBe(1);
    const a = (await client.execute(CreateWorkshopDocument, { input: { title: 'A' } })).data!.createWorkshop.id;
    const b = (await client.execute(CreateWorkshopDocument, { input: { title: 'B' } })).data!.createWorkshop.id;

    // Each workshop is charged through both instances: (i >> 1) alternates the instance, i alternates the workshop.
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => on(i >> 1).as(sub).execute(ConsumeWorkshopCreditDocument, { workshopId: i % 2 ? a : b })),
    );

    const charged = new Set(results.filter((r) => r.data).map((r) => r.data!.consumeWorkshopCredit.workshop?.id));
    expect(charged.size).toBe(1);
    for (const r of results.filter((x) => !x.data)) expect(errorOf(r)?.code).toBe('INSUFFICIENT_CREDITS');
    const { rows } = await first().sql.query('select id from workshops where user_id = $1 and credit_consumed_at is not null', [userId]);
    expect(rows).toEqual([{ id: [...charged][0] }]);
    expect(await balanceOf(first(), userId)).toBe(0);
    expect(await creditProblems(first(), userId)).toEqual([]);
  });

  it('concurrent first requests of a new sub provision one user with one starter GRANT', async () => {
    const sub = uniqueSub('newcomer');
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => on(i).as(sub, { email: 'new@example.com' }).execute(MeDocument)));

    expect(results.map((r) => r.errors)).toEqual(Array(20).fill(undefined));
    expect(new Set(results.map((r) => r.data!.me.id)).size).toBe(1);
    const { rows: users } = await first().sql.query('select u.id, a.credit_balance from users u join accounts a on a.id = u.id where u.clerk_user_id = $1', [sub]);
    expect(users).toHaveLength(1);
    expect(users[0].credit_balance).toBe(10);
    const rows = await ledgerRows(first(), users[0].id);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ type: 'grant', status: 'completed', amount: 10, balance_after: 10 });
  });
}
