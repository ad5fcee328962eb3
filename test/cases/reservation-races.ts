import { expect, it } from '@jest/globals';
import { SpendCreditsDocument } from '../generated/graphql.js';
import { capture, grantExpiring, inHours, key, release, reserve, sweep } from '../support/credits.js';
import { errorOf } from '../support/errors.js';
import { accountOf, creditProblems, grantAsAdmin, ledgerRows } from '../support/ledger.js';
import type { GraphQLResponse, TestServer } from '../support/server.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/** What the servers of `reservationRaces` run with. */
export const RESERVATION_RACES_ENV = { ADMIN_USER_IDS: ADMIN_SUB };

/**
 * Storms on one user, fired with Promise.all: holds, spends, captures, releases and expiry sweeps race each other.
 * Outcomes are asserted, never durations: nothing overspends, every hold resolves once, the audit stays clean.
 * `instances` are the servers (one, or several on one database): operation i goes to instance i mod n, and each
 * instance runs its own expiry sweeper. Internal by design: the sweeper is called directly, with its clock.
 */
export function reservationRaces(instances: () => TestServer[]) {
  const on = (i: number) => instances()[i % instances().length]!;
  const first = () => on(0);
  const spend = (sub: string, amount: number, i = 0) =>
    on(i).as(sub).execute(SpendCreditsDocument, { input: { amount, feature: 'chat', idempotencyKey: key('spend') } });

  /** 100 credits: 40 that never expire, 35 expiring in 1 hour, 25 in 2 hours. */
  async function fundedUser(label: string) {
    const sub = uniqueSub(label);
    const userId = await userIdOf(first(), sub);
    await grantAsAdmin(first(), userId, 40);
    await grantExpiring(first(), userId, 35, inHours(1));
    await grantExpiring(first(), userId, 25, inHours(2));
    return { sub, userId };
  }

  it('holds and spends racing for one balance never take more than it has', async () => {
    const { sub, userId } = await fundedUser('race_hold_spend');
    const ops = Array.from({ length: 80 }, (_, i) => (i % 2 === 0 ? reserve(on(i >> 1), sub, 3) : spend(sub, 2, i >> 1)));
    const results: GraphQLResponse<Record<string, unknown>>[] = await Promise.all(ops);

    const holds = results.filter((r, i) => i % 2 === 0 && r.data);
    const spends = results.filter((r, i) => i % 2 === 1 && r.data);
    for (const refused of results.filter((r) => !r.data)) expect(errorOf(refused)?.code).toBe('INSUFFICIENT_CREDITS');
    expect(holds.length * 3 + spends.length * 2).toBeLessThanOrEqual(100);
    expect(holds.length * 3 + spends.length * 2).toBeGreaterThan(100 - 3); // it stopped only when nothing fitted
    expect(await accountOf(first(), userId)).toMatchObject({ balance: 100 - spends.length * 2, held: holds.length * 3 });
    expect(await creditProblems(first(), userId)).toEqual([]);
  });

  it('captures, releases, spends and two concurrent sweepers: each hold resolves exactly once, nothing overspends', async () => {
    const { sub, userId } = await fundedUser('race_resolve');
    // Half the holds lapse by the sweepers' clock (+3 hours), half do not; every grant lapses too.
    const holds = await Promise.all(Array.from({ length: 24 }, (_, i) => reserve(on(i), sub, 3, { ttlSeconds: i % 2 ? 60 : 6 * 3600 })));
    const ids = holds.map((h) => h.data!.reserveCredits.id);
    expect(ids).toHaveLength(24);
    expect(await accountOf(first(), userId)).toMatchObject({ balance: 100, held: 72 });

    const amountFor = (i: number) => 1 + (i % 3);
    const later = inHours(3);
    const ops: Promise<unknown>[] = [];
    const captures = new Map<string, GraphQLResponse<{ captureReservation: { status: string; capturedAmount?: number | null } }>[]>();
    const releases = new Map<string, GraphQLResponse<{ releaseReservation: { status: string } }>[]>();
    ids.forEach((id, i) => {
      captures.set(id, []);
      releases.set(id, []);
      // Two identical captures (through different instances), a release, and a capture of a different amount, all at once.
      [amountFor(i), amountFor(i), amountFor(i) + 1].forEach((amount, n) => {
        ops.push(capture(on(i + n), sub, id, amount).then((r) => captures.get(id)!.push(r)));
      });
      ops.push(release(on(i + 1), sub, id).then((r) => releases.get(id)!.push(r)));
    });
    const spendResults: GraphQLResponse<unknown>[] = [];
    for (let i = 0; i < 15; i++) ops.push(spend(sub, 2, i).then((r) => spendResults.push(r)));
    ops.push(sweep(on(0), later), sweep(on(1), later));
    await Promise.all(ops);
    await sweep(first(), later); // whatever a busy user made the racing sweepers skip

    const { rows } = await first().sql.query<{ id: string; status: string; captured_amount: number | null }>(
      'select id, status, captured_amount from reservations where account_id = $1',
      [userId],
    );
    expect(rows).toHaveLength(24);
    for (const row of rows) {
      expect(row.status).not.toBe('held');
      const won = captures.get(row.id)!.filter((r) => r.data);
      const releasedOk = releases.get(row.id)!.filter((r) => r.data);
      if (row.status === 'captured') {
        expect(won.length).toBeGreaterThan(0);
        for (const r of won) expect(r.data!.captureReservation).toMatchObject({ status: 'CAPTURED', capturedAmount: row.captured_amount });
        expect(releasedOk).toHaveLength(0);
      } else if (row.status === 'released') {
        expect(won).toHaveLength(0);
        expect(releasedOk.length).toBeGreaterThan(0);
      } else {
        expect(row.status).toBe('expired');
        expect(won).toHaveLength(0);
        expect(releasedOk).toHaveLength(0);
      }
      for (const r of [...captures.get(row.id)!, ...releases.get(row.id)!].filter((x) => !x.data)) {
        expect(['RESERVATION_ALREADY_RESOLVED', 'RESERVATION_EXPIRED', 'BAD_USER_INPUT']).toContain(errorOf(r)?.code);
      }
    }
    for (const r of spendResults.filter((x) => !(x as { data?: unknown }).data)) expect(errorOf(r)?.code).toBe('INSUFFICIENT_CREDITS');

    // Every credit is accounted for: the 100 granted = what is left + consumed + expired.
    const ledger = await ledgerRows(first(), userId);
    const consumed = -ledger.filter((r) => r.type === 'consumption').reduce((sum, r) => sum + r.amount, 0);
    const expired = -ledger.filter((r) => r.type === 'expiration').reduce((sum, r) => sum + r.amount, 0);
    const captured = rows.filter((r) => r.status === 'captured').reduce((sum, r) => sum + r.captured_amount!, 0);
    const account = await accountOf(first(), userId);
    expect(account.held).toBe(0);
    expect(account.expiring).toBe(0); // every grant lapsed by the last sweep's clock, and no hold keeps any
    expect(account.balance + consumed + expired).toBe(100);
    expect(consumed).toBe(captured + 2 * spendResults.filter((r) => (r as { data?: unknown }).data).length);
    expect(account.balance).toBeLessThanOrEqual(40);
    expect(await creditProblems(first(), userId)).toEqual([]);
  });

  it('spends racing the expiry of the grants they draw on never spend an expired credit twice', async () => {
    const { sub, userId } = await fundedUser('race_expiry');
    // Lapsed by the server's own clock, so every spend expires them inline while the sweepers do the same.
    await first().sql.query(`update credit_grants set expires_at = now() - interval '1 second' where account_id = $1`, [userId]);
    const results = await Promise.all([
      ...Array.from({ length: 30 }, (_, i) => spend(sub, 2, i)),
      sweep(on(0), new Date()),
      sweep(on(1), new Date()),
      ...Array.from({ length: 10 }, (_, i) => reserve(on(i), sub, 1)),
    ]);
    const spent = results.slice(0, 30).filter((r) => (r as GraphQLResponse<unknown>).data).length;
    const held = results.slice(32).filter((r) => (r as GraphQLResponse<unknown>).data).length;
    // Only the 40 that never expire could be spent or held.
    expect(spent * 2 + held).toBeLessThanOrEqual(40);
    expect(await accountOf(first(), userId)).toEqual({ balance: 40 - spent * 2, held, expiring: 0 });
    const expired = (await ledgerRows(first(), userId)).filter((r) => r.type === 'expiration').reduce((sum, r) => sum - r.amount, 0);
    expect(expired).toBe(60);
    expect(await creditProblems(first(), userId)).toEqual([]);
  });
}
