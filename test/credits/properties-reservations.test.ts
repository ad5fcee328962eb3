import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { CreditAccountDocument, SpendCreditsDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { capture, grantExpiring, inHours, key, release, reserve, sweep } from '../support/credits.js';
import { errorOf } from '../support/errors.js';
import { creditProblems } from '../support/ledger.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/**
 * Model-based property test of holds and expiring grants: random sequences of grants (expiring or not), spends,
 * holds, captures, releases and clock jumps run against the real server and a small in-memory model. Time is
 * injected: the model's clock only moves forward, and each jump runs the expiry sweeper with it (the server's own
 * clock stays hours behind, so nothing lapses except through the sweeper). After every step the balance, held and
 * expiring credits must match the model, every grant's remaining must match, and the ledger invariants must hold.
 *
 * On failure fast-check prints `{ seed, path }` with the shrunk counterexample. To replay exactly that case, pass
 * them to fc.assert below: `fc.assert(property, { ...RUNS, seed: <seed>, path: '<path>', endOnFailure: true })`.
 */

const RUNS = { numRuns: 30 };

type Step =
  | { kind: 'grant'; amount: number; expiresInHours: number | null }
  | { kind: 'spend'; amount: number }
  | { kind: 'reserve'; amount: number; ttlHours: number }
  | { kind: 'capture'; index: number; amount: number }
  | { kind: 'release'; index: number }
  | { kind: 'advance'; hours: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('grant' as const),
      amount: fc.integer({ min: 1, max: 20 }),
      expiresInHours: fc.option(fc.integer({ min: 1, max: 6 }), { freq: 3 }),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('spend' as const), amount: fc.integer({ min: 1, max: 12 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('reserve' as const), amount: fc.integer({ min: 1, max: 10 }), ttlHours: fc.integer({ min: 1, max: 8 }) }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('capture' as const), index: fc.nat(), amount: fc.integer({ min: 1, max: 11 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('release' as const), index: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), hours: fc.integer({ min: 1, max: 4 }) }) },
);

interface ModelGrant {
  id: string;
  remaining: number;
  expiresAt: number;
  order: number;
}

interface ModelReservation {
  id: string;
  amount: number;
  expiresAt: number;
  status: 'HELD' | 'CAPTURED' | 'RELEASED' | 'EXPIRED';
  captured?: number;
}

interface Model {
  clock: number;
  balance: number;
  held: number;
  grants: ModelGrant[];
  reservations: ModelReservation[];
}

const expiring = (model: Model) => model.grants.reduce((sum, g) => sum + g.remaining, 0);
const soonestFirst = (a: ModelGrant, b: ModelGrant) => a.expiresAt - b.expiresAt || a.order - b.order;

/** What a debit takes from grants, soonest expiry first (the ledger's rule). */
function drawFromGrants(model: Model, amount: number) {
  let left = Math.min(amount, expiring(model));
  for (const grant of model.grants.filter((g) => g.remaining > 0).sort(soonestFirst)) {
    const take = Math.min(left, grant.remaining);
    grant.remaining -= take;
    left -= take;
  }
}

/** The sweeper's rule: lapsed holds are freed first, then lapsed grants lose what is not held, soonest first. */
function sweepModel(model: Model) {
  for (const r of model.reservations) {
    if (r.status === 'HELD' && r.expiresAt <= model.clock) {
      r.status = 'EXPIRED';
      model.held -= r.amount;
    }
  }
  for (const grant of model.grants.filter((g) => g.remaining > 0 && g.expiresAt <= model.clock).sort(soonestFirst)) {
    const removable = Math.min(grant.remaining, Math.max(0, model.balance - model.held));
    grant.remaining -= removable;
    model.balance -= removable;
  }
}

describe('reservation and expiry properties', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB } });
  });
  afterAll(() => server.close());

  async function run(sub: string, userId: string, model: Model, s: Step) {
    switch (s.kind) {
      case 'grant': {
        const expiresAt = s.expiresInHours === null ? null : inHours(s.expiresInHours, new Date(model.clock));
        const res = await grantExpiring(server, userId, s.amount, expiresAt);
        expect(res.errors).toBeUndefined();
        model.balance += s.amount;
        expect(res.data?.grantCredits.balanceAfter).toBe(model.balance);
        if (expiresAt) model.grants.push({ id: res.data!.grantCredits.id, remaining: s.amount, expiresAt: expiresAt.getTime(), order: model.grants.length });
        return;
      }
      case 'spend': {
        const res = await server.as(sub).execute(SpendCreditsDocument, { input: { amount: s.amount, feature: 'chat', idempotencyKey: key('s') } });
        if (model.balance - model.held < s.amount) {
          expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'INSUFFICIENT_CREDITS', balance: model.balance, spendable: model.balance - model.held });
          return;
        }
        drawFromGrants(model, s.amount);
        model.balance -= s.amount;
        expect(res.data?.consumeCredits.balanceAfter).toBe(model.balance);
        return;
      }
      case 'reserve': {
        // The server starts the ttl at its own clock; make the hold lapse ttlHours after the model's.
        const ttlSeconds = Math.ceil((model.clock - Date.now()) / 1000) + s.ttlHours * 3600;
        const res = await reserve(server, sub, s.amount, { ttlSeconds });
        if (model.balance - model.held < s.amount) {
          expect(errorOf(res)?.code).toBe('INSUFFICIENT_CREDITS');
          return;
        }
        expect(res.data?.reserveCredits).toMatchObject({ amount: s.amount, status: 'HELD' });
        model.held += s.amount;
        const { id, expiresAt } = res.data!.reserveCredits;
        model.reservations.push({ id, amount: s.amount, expiresAt: new Date(expiresAt).getTime(), status: 'HELD' });
        return;
      }
      case 'capture': {
        if (model.reservations.length === 0) return;
        const r = model.reservations[s.index % model.reservations.length]!;
        const res = await capture(server, sub, r.id, s.amount);
        if (r.status === 'CAPTURED' && r.captured === s.amount) {
          expect(res.data?.captureReservation).toMatchObject({ status: 'CAPTURED', capturedAmount: s.amount });
        } else if (r.status === 'EXPIRED') {
          expect(errorOf(res)?.code).toBe('RESERVATION_EXPIRED');
        } else if (r.status !== 'HELD') {
          expect(errorOf(res)?.code).toBe('RESERVATION_ALREADY_RESOLVED');
        } else if (s.amount > r.amount) {
          expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'amount' });
        } else {
          drawFromGrants(model, s.amount);
          model.balance -= s.amount;
          model.held -= r.amount;
          r.status = 'CAPTURED';
          r.captured = s.amount;
          expect(res.data?.captureReservation).toMatchObject({
            status: 'CAPTURED',
            capturedAmount: s.amount,
            transaction: { type: 'CONSUMPTION', amount: -s.amount, balanceAfter: model.balance },
          });
        }
        return;
      }
      case 'release': {
        if (model.reservations.length === 0) return;
        const r = model.reservations[s.index % model.reservations.length]!;
        const res = await release(server, sub, r.id);
        if (r.status === 'HELD' || r.status === 'RELEASED') {
          if (r.status === 'HELD') model.held -= r.amount;
          r.status = 'RELEASED';
          expect(res.data?.releaseReservation.status).toBe('RELEASED');
        } else {
          expect(errorOf(res)?.code).toBe(r.status === 'EXPIRED' ? 'RESERVATION_EXPIRED' : 'RESERVATION_ALREADY_RESOLVED');
        }
        return;
      }
      case 'advance': {
        model.clock += s.hours * 3_600_000;
        await sweep(server, new Date(model.clock));
        sweepModel(model);
      }
    }
  }

  async function expectInStep(sub: string, model: Model) {
    const me = (await server.as(sub).execute(CreditAccountDocument)).data!.me;
    expect({ balance: me.creditBalance, held: me.heldCredits, expiring: me.expiringCredits, spendable: me.spendableCredits }).toEqual({
      balance: model.balance,
      held: model.held,
      expiring: expiring(model),
      spendable: model.balance - model.held,
    });
    const { rows } = await server.sql.query<{ id: string; remaining: number }>(
      'select transaction_id as id, remaining from credit_grants where account_id = $1 order by transaction_id',
      [me.id],
    );
    const modelGrants = model.grants.map((g) => ({ id: g.id, remaining: g.remaining })).sort((a, b) => (a.id < b.id ? -1 : 1));
    expect(rows).toEqual(modelGrants);
    expect(await creditProblems(server, me.id)).toEqual([]);
  }

  it('keeps balance, holds, grants and invariants in step with the model over random sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30, size: 'max' }), async (steps) => {
        const sub = uniqueSub('rsvprop'); // a fresh user per run, so runs are independent on one server
        const userId = await userIdOf(server, sub);
        const model: Model = { clock: Date.now(), balance: 0, held: 0, grants: [], reservations: [] };
        for (const s of steps) {
          await run(sub, userId, model, s);
          await expectInStep(sub, model);
        }
        // However it ended: once far enough ahead, everything lapses, holds included, and nothing expiring is left.
        await run(sub, userId, model, { kind: 'advance', hours: 24 });
        await expectInStep(sub, model);
        expect(model.held).toBe(0);
        expect(expiring(model)).toBe(0);
      }),
      RUNS,
    );
  }, 600_000);
});
