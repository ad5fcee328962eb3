import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConsumeCreditsDocument, CreditAccountDocument, ReservationByIdDocument, ReserveCreditsDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { capture, inHours, key, release, reserve, sweep } from '../support/credits.js';
import { errorOf } from '../support/errors.js';
import { accountOf, creditProblems, grantAsAdmin, ledgerRows, writeCounts } from '../support/ledger.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/** Reservations through the real server: hold, capture once, release, expire; the balance never overspends. */
describe('reservations', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB } });
  });
  afterAll(() => server.close());

  async function userWith(credits: number, label = 'rsv') {
    const sub = uniqueSub(label);
    const userId = await userIdOf(server, sub);
    if (credits > 0) await grantAsAdmin(server, userId, credits);
    return { sub, userId };
  }

  it('holds credits without a ledger row; they stop being spendable until the hold resolves', async () => {
    const { sub, userId } = await userWith(10);
    const held = await reserve(server, sub, 7, { feature: 'llm.run', ttlSeconds: 600 });
    expect(held.errors).toBeUndefined();
    const reservation = held.data!.reserveCredits;
    expect(reservation).toMatchObject({ amount: 7, status: 'HELD', feature: 'llm.run', capturedAmount: null, transaction: null, resolvedAt: null });
    expect(reservation.id).toMatch(/^rsv_/);
    const ttl = new Date(reservation.expiresAt).getTime() - new Date(reservation.createdAt).getTime();
    expect(ttl).toBeGreaterThan(590_000);
    expect(ttl).toBeLessThan(610_000);

    const me = await server.as(sub).execute(CreditAccountDocument);
    expect(me.data?.me).toMatchObject({ creditBalance: 10, heldCredits: 7, spendableCredits: 3, expiringCredits: 0 });
    expect(await ledgerRows(server, userId)).toHaveLength(1); // only the grant

    const spend = await server.as(sub).execute(ConsumeCreditsDocument, { input: { amount: 4, feature: 'chat', idempotencyKey: key('c') } });
    expect(spend.errors?.[0]?.extensions).toMatchObject({ code: 'INSUFFICIENT_CREDITS', balance: 10, spendable: 3, required: 4 });
    const second = await reserve(server, sub, 4);
    expect(second.errors?.[0]?.extensions).toMatchObject({ code: 'INSUFFICIENT_CREDITS', balance: 10, spendable: 3, required: 4 });
    const fits = await server.as(sub).execute(ConsumeCreditsDocument, { input: { amount: 3, feature: 'chat', idempotencyKey: key('c') } });
    expect(fits.data?.consumeCredits.balanceAfter).toBe(7);
    expect(await accountOf(server, userId)).toEqual({ balance: 7, held: 7, expiring: 0 });
    expect(await creditProblems(server, userId)).toEqual([]);
  });

  it('capture charges the amount as one CONSUMPTION row and frees the rest of the hold', async () => {
    const { sub, userId } = await userWith(10);
    const { id } = (await reserve(server, sub, 6, { feature: 'doc.render' })).data!.reserveCredits;
    const captured = await capture(server, sub, id, 4);
    expect(captured.errors).toBeUndefined();
    expect(captured.data?.captureReservation).toMatchObject({
      id,
      status: 'CAPTURED',
      capturedAmount: 4,
      transaction: { type: 'CONSUMPTION', status: 'COMPLETED', amount: -4, balanceAfter: 6, feature: 'doc.render' },
    });
    expect(captured.data?.captureReservation.resolvedAt).toEqual(expect.any(String));
    expect(await accountOf(server, userId)).toEqual({ balance: 6, held: 0, expiring: 0 });
    const rows = await ledgerRows(server, userId);
    expect(rows.map((r) => [r.type, r.amount, r.balance_after])).toEqual([
      ['grant', 10, 10],
      ['consumption', -4, 6],
    ]);
    expect(await creditProblems(server, userId)).toEqual([]);
  });

  it('resolves once: the same capture again returns the same result, anything else is refused', async () => {
    const { sub, userId } = await userWith(10);
    const { id } = (await reserve(server, sub, 5)).data!.reserveCredits;
    const first = await capture(server, sub, id, 5);
    const again = await capture(server, sub, id, 5);
    expect(again.errors).toBeUndefined();
    expect(again.data?.captureReservation).toEqual(first.data?.captureReservation);

    const different = await capture(server, sub, id, 3);
    expect(different.errors?.[0]?.extensions).toMatchObject({ code: 'RESERVATION_ALREADY_RESOLVED', status: 'CAPTURED', capturedAmount: 5 });
    expect(different.errors?.[0]?.message).toMatch(/already captured/);
    const released = await release(server, sub, id);
    expect(errorOf(released)?.code).toBe('RESERVATION_ALREADY_RESOLVED');
    expect(await accountOf(server, userId)).toEqual({ balance: 5, held: 0, expiring: 0 });
    expect((await ledgerRows(server, userId)).filter((r) => r.type === 'consumption')).toHaveLength(1);
  });

  it('release frees the hold without a charge; releasing again returns it unchanged; capture after it is refused', async () => {
    const { sub, userId } = await userWith(8);
    const { id } = (await reserve(server, sub, 8)).data!.reserveCredits;
    const released = await release(server, sub, id);
    expect(released.data?.releaseReservation).toMatchObject({ id, status: 'RELEASED', capturedAmount: null, transaction: null });
    const again = await release(server, sub, id);
    expect(again.data?.releaseReservation).toEqual(released.data?.releaseReservation);
    const captured = await capture(server, sub, id, 1);
    expect(captured.errors?.[0]?.extensions).toMatchObject({ code: 'RESERVATION_ALREADY_RESOLVED', status: 'RELEASED' });
    expect(await accountOf(server, userId)).toEqual({ balance: 8, held: 0, expiring: 0 });
    expect(await ledgerRows(server, userId)).toHaveLength(1);
    expect(await creditProblems(server, userId)).toEqual([]);
  });

  it('refuses to capture more than the hold, and a reservation of someone else is NOT_FOUND', async () => {
    const { sub, userId } = await userWith(10);
    const other = await userWith(10, 'rsv_other');
    const { id } = (await reserve(server, sub, 3)).data!.reserveCredits;
    const before = await writeCounts(server);
    const tooMuch = await capture(server, sub, id, 4);
    expect(tooMuch.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'amount' });
    expect(errorOf(await capture(server, other.sub, id, 1))?.code).toBe('NOT_FOUND');
    expect(errorOf(await release(server, other.sub, id))?.code).toBe('NOT_FOUND');
    expect((await server.as(other.sub).execute(ReservationByIdDocument, { id })).data?.reservation).toBeNull();
    expect((await server.as(sub).execute(ReservationByIdDocument, { id })).data?.reservation).toMatchObject({ id, status: 'HELD' });
    expect(await writeCounts(server)).toEqual(before);
    expect(await accountOf(server, userId)).toEqual({ balance: 10, held: 3, expiring: 0 });
  });

  it('is idempotent per key: the same input returns the same reservation, a different one is IDEMPOTENCY_CONFLICT', async () => {
    const { sub, userId } = await userWith(10);
    const k = key('same');
    const first = await reserve(server, sub, 4, { key: k });
    const retry = await reserve(server, sub, 4, { key: k });
    expect(retry.data?.reserveCredits.id).toBe(first.data?.reserveCredits.id);
    expect(errorOf(await reserve(server, sub, 5, { key: k }))?.code).toBe('IDEMPOTENCY_CONFLICT');
    await capture(server, sub, first.data!.reserveCredits.id, 2);
    // A retry after the reservation resolved still answers with it, as it is now; it holds nothing new.
    const late = await reserve(server, sub, 4, { key: k });
    expect(late.data?.reserveCredits).toMatchObject({ id: first.data!.reserveCredits.id, status: 'CAPTURED', capturedAmount: 2 });
    expect(await accountOf(server, userId)).toEqual({ balance: 8, held: 0, expiring: 0 });

    const racing = await Promise.all(Array.from({ length: 10 }, () => reserve(server, sub, 1, { key: 'race-key' })));
    expect(racing.map((res) => errorOf(res)?.code)).toEqual(Array(10).fill(undefined));
    expect(new Set(racing.map((r) => r.data!.reserveCredits.id)).size).toBe(1);
    expect(await accountOf(server, userId)).toEqual({ balance: 8, held: 1, expiring: 0 });
    expect(await creditProblems(server, userId)).toEqual([]);
  });

  it('capture after expiry fails clearly, whether or not the sweeper got there first', async () => {
    const { sub, userId } = await userWith(10);
    const swept = (await reserve(server, sub, 4, { ttlSeconds: 60 })).data!.reserveCredits;
    const summary = await sweep(server, inHours(1));
    expect(summary.reservationsExpired).toBeGreaterThanOrEqual(1);
    expect(await accountOf(server, userId)).toEqual({ balance: 10, held: 0, expiring: 0 });
    const late = await capture(server, sub, swept.id, 4);
    expect(late.errors?.[0]?.extensions).toMatchObject({ code: 'RESERVATION_EXPIRED', reservationId: swept.id });
    expect(late.errors?.[0]?.message).toMatch(/expired/);
    expect(errorOf(await release(server, sub, swept.id))?.code).toBe('RESERVATION_EXPIRED');
    expect((await server.as(sub).execute(ReservationByIdDocument, { id: swept.id })).data?.reservation?.status).toBe('EXPIRED');

    // Lapsed but not yet swept (its expiry moved into the past): the capture itself finds it expired and frees it.
    const lapsed = (await reserve(server, sub, 6)).data!.reserveCredits;
    await server.sql.query(`update reservations set expires_at = now() - interval '1 second' where id = $1`, [lapsed.id]);
    expect(errorOf(await capture(server, sub, lapsed.id, 1))?.code).toBe('RESERVATION_EXPIRED');
    expect(await accountOf(server, userId)).toEqual({ balance: 10, held: 0, expiring: 0 });
    expect(await ledgerRows(server, userId)).toHaveLength(1);
    expect(await creditProblems(server, userId)).toEqual([]);
  });

  it('a spend or a hold looks past lapsed holds that the sweeper has not freed yet', async () => {
    const { sub, userId } = await userWith(5);
    const { id } = (await reserve(server, sub, 5)).data!.reserveCredits;
    await server.sql.query(`update reservations set expires_at = now() - interval '1 second' where id = $1`, [id]);
    const spend = await server.as(sub).execute(ConsumeCreditsDocument, { input: { amount: 2, feature: 'chat', idempotencyKey: key('c') } });
    expect(spend.data?.consumeCredits.balanceAfter).toBe(3);
    expect((await server.as(sub).execute(ReservationByIdDocument, { id })).data?.reservation?.status).toBe('EXPIRED');
    expect((await reserve(server, sub, 3)).data?.reserveCredits.status).toBe('HELD');
    expect(await accountOf(server, userId)).toEqual({ balance: 3, held: 3, expiring: 0 });
    expect(await creditProblems(server, userId)).toEqual([]);
  });

  it('validates its input, naming the field, and writes nothing', async () => {
    const { sub } = await userWith(10);
    const before = await writeCounts(server);
    const input = { amount: 1, feature: 'chat', idempotencyKey: key('v'), ttlSeconds: 60 };
    const cases: [Partial<typeof input>, string][] = [
      [{ amount: 0 }, 'input.amount'],
      [{ amount: 1_000_001 }, 'input.amount'],
      [{ feature: 'Not Valid' }, 'input.feature'],
      [{ feature: 'workshop' }, 'input.feature'],
      [{ idempotencyKey: '' }, 'input.idempotencyKey'],
      [{ ttlSeconds: 0 }, 'input.ttlSeconds'],
      [{ ttlSeconds: 7 * 86_400 + 1 }, 'input.ttlSeconds'],
    ];
    for (const [change, field] of cases) {
      const res = await server.as(sub).execute(ReserveCreditsDocument, { input: { ...input, ...change } });
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field });
    }
    expect((await capture(server, sub, 'ws_abc123', 1)).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'id' });
    expect((await capture(server, sub, 'rsv_abc123', 0)).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'amount' });
    expect(errorOf(await capture(server, sub, 'rsv_abc123', 1))?.code).toBe('NOT_FOUND');
    expect(errorOf(await server.as().execute(ReserveCreditsDocument, { input }))?.code).toBe('UNAUTHENTICATED');
    expect(await writeCounts(server)).toEqual(before);
  });
});
