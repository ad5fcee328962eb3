import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  CaptureReservationDocument,
  ConsumeCreditsDocument,
  CreateOrganizationDocument,
  GrantCreditsDocument,
  ReleaseReservationDocument,
  ReserveCreditsDocument,
  SetLowBalanceThresholdDocument,
} from '../generated/graphql.js';
import { key } from '../support/credits.js';
import { codesOf, errorOf } from '../support/errors.js';
import { expectCleanLedger } from '../support/ledger.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/**
 * Where events come from: every ledger row, reservation and alert writes its event in the transaction of the change
 * (database triggers), numbered per account without gaps. Low-balance and depleted alerts fire once per crossing,
 * also when many clients spend at once.
 */
describe('events from changes', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB } });
  });
  afterAll(() => server?.close());

  const events = async (accountId: string) =>
    (
      await server.sql.query<{ seq: string; type: string; payload: Record<string, unknown> }>(
        'select seq, type, payload from events where account_id = $1 order by seq',
        [accountId],
      )
    ).rows;
  const types = async (accountId: string) => (await events(accountId)).map((event) => event.type);
  const grant = async (accountId: string, amount: number) => {
    const res = await server.as(ADMIN_SUB).execute(GrantCreditsDocument, { input: { userId: accountId, amount, reason: 'Test', idempotencyKey: key('grant') } });
    expect(res.errors).toBeUndefined();
  };
  const spend = async (sub: string, amount: number) => server.as(sub).execute(ConsumeCreditsDocument, { input: { amount, feature: 'chat', idempotencyKey: key('spend') } });
  const threshold = (sub: string, value: number | null, organizationId?: string) =>
    server.as(sub).execute(SetLowBalanceThresholdDocument, { input: { threshold: value, ...(organizationId ? { organizationId } : {}) } });

  it('writes an event for each ledger row, carrying the row as the API shows it and the balance after, numbered 1, 2, 3...', async () => {
    const sub = uniqueSub('ledger_events');
    const id = await userIdOf(server, sub);
    await grant(id, 10);
    const spent = (await spend(sub, 3)).data!.consumeCredits;
    const all = await events(id);
    expect(all.map((event) => [event.seq, event.type])).toEqual([
      ['1', 'credits.granted'],
      ['2', 'credits.consumed'],
    ]);
    expect(all[1]!.payload).toMatchObject({
      transaction: { id: spent.id, type: 'CONSUMPTION', status: 'COMPLETED', amount: -3, balanceAfter: 7, feature: 'chat', accountId: id, actorId: id },
      balanceAfter: 7,
      creditBalance: 7,
      spendableCredits: 7,
    });
  });

  it('writes nothing for a refused request, and the refused request does not take a number', async () => {
    const sub = uniqueSub('refused_events');
    const id = await userIdOf(server, sub);
    await grant(id, 2);
    expect(codesOf(await spend(sub, 5))).toEqual(['INSUFFICIENT_CREDITS']);
    await spend(sub, 1);
    expect((await events(id)).map((event) => [event.seq, event.type])).toEqual([
      ['1', 'credits.granted'],
      ['2', 'credits.consumed'],
    ]);
  });

  it('reservations report their creation and resolution', async () => {
    const sub = uniqueSub('reservation_events');
    const id = await userIdOf(server, sub);
    await grant(id, 20);
    const held = (await server.as(sub).execute(ReserveCreditsDocument, { input: { amount: 5, feature: 'llm', idempotencyKey: key('r') } })).data!.reserveCredits;
    await server.as(sub).execute(CaptureReservationDocument, { id: held.id, amount: 3 });
    const other = (await server.as(sub).execute(ReserveCreditsDocument, { input: { amount: 4, feature: 'llm', idempotencyKey: key('r') } })).data!.reserveCredits;
    await server.as(sub).execute(ReleaseReservationDocument, { id: other.id });
    expect(await types(id)).toEqual([
      'credits.granted',
      'reservation.created',
      'credits.consumed',
      'reservation.captured',
      'reservation.created',
      'reservation.released',
    ]);
    const captured = (await events(id)).find((event) => event.type === 'reservation.captured')!;
    expect(captured.payload).toMatchObject({ reservation: { id: held.id, status: 'CAPTURED', amount: 5, capturedAmount: 3 }, spendableCredits: 17 });
  });

  it('balance.low fires once per downward crossing of the threshold, balance.depleted once on reaching zero', async () => {
    const sub = uniqueSub('crossings');
    const id = await userIdOf(server, sub);
    await grant(id, 100);
    expect((await threshold(sub, 50)).data!.setLowBalanceThreshold).toEqual({ threshold: 50, below: false });
    await spend(sub, 30); // 70
    await spend(sub, 25); // 45: crosses
    await spend(sub, 5); // 40: already below
    await grant(id, 20); // 60: back above, re-armed
    await spend(sub, 10); // 50: at the threshold is not below
    await spend(sub, 1); // 49: crosses again
    await spend(sub, 49); // 0: depleted (already below 50)
    const alerts = (await events(id)).filter((event) => event.type.startsWith('balance.'));
    expect(alerts.map((event) => [event.type, event.payload.spendableCredits])).toEqual([
      ['balance.low', 45],
      ['balance.low', 49],
      ['balance.depleted', 0],
    ]);
    expect(alerts[0]!.payload).toMatchObject({ threshold: 50, previousSpendableCredits: 70 });
    // Each alert follows the ledger row that caused it.
    const all = await types(id);
    expect(all[all.indexOf('balance.low') - 1]).toBe('credits.consumed');
    expect((await threshold(sub, 10)).data!.setLowBalanceThreshold).toEqual({ threshold: 10, below: true });
    expect((await threshold(sub, null)).data!.setLowBalanceThreshold).toEqual({ threshold: null, below: false });
  });

  it('a hold that takes the spendable balance under the threshold crosses it too', async () => {
    const sub = uniqueSub('hold_crossing');
    const id = await userIdOf(server, sub);
    await grant(id, 30);
    await threshold(sub, 20);
    await server.as(sub).execute(ReserveCreditsDocument, { input: { amount: 15, feature: 'llm', idempotencyKey: key('r') } });
    expect((await events(id)).filter((event) => event.type === 'balance.low').map((event) => event.payload.spendableCredits)).toEqual([15]);
  });

  it('with 40 clients spending at once: one balance.low, one balance.depleted, and numbers without gaps', async () => {
    const sub = uniqueSub('concurrent_crossing');
    const id = await userIdOf(server, sub);
    await grant(id, 400);
    await threshold(sub, 200);
    const answers = await Promise.all(Array.from({ length: 40 }, () => spend(sub, 10)));
    expect(answers.filter((answer) => answer.errors)).toEqual([]);
    const all = await events(id);
    expect(all.map((event) => Number(event.seq))).toEqual(all.map((_, i) => i + 1));
    expect(all.filter((event) => event.type === 'balance.low')).toHaveLength(1);
    expect(all.filter((event) => event.type === 'balance.depleted')).toHaveLength(1);
    expect(all.filter((event) => event.type === 'credits.consumed')).toHaveLength(40);
    const low = all.find((event) => event.type === 'balance.low')!;
    expect(low.payload).toMatchObject({ spendableCredits: 190, previousSpendableCredits: 200 });
    await expectCleanLedger(server);
  });

  it('only an organization’s OWNER or ADMIN sets its threshold; a bad threshold is refused', async () => {
    const owner = uniqueSub('threshold_owner');
    const org = (await server.as(owner).execute(CreateOrganizationDocument, { input: { name: 'Thresholds' } })).data!.createOrganization;
    expect((await threshold(owner, 5, org.id)).data!.setLowBalanceThreshold).toEqual({ threshold: 5, below: true });
    expect(codesOf(await threshold(uniqueSub('threshold_stranger'), 5, org.id))).toEqual(['NOT_FOUND']);
    expect(errorOf(await threshold(owner, -1))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.threshold' });
  });
});
