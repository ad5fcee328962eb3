import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  ConsumeCreditsDocument,
  ConsumeWorkshopCreditDocument,
  CreateWorkshopDocument,
  CreditBalanceDocument,
  GrantCreditsDocument,
} from '../generated/graphql.js';
import { startTestServer, type GraphQLResponse, type TestServer } from '../support/server.js';
import { errorOf } from '../support/errors.js';
import { creditProblems, ledgerRows } from '../support/ledger.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/**
 * Model-based property test: random sequences of grants, spends, workshop charges and (re)used idempotency keys are
 * run against the real server and against a small in-memory model; after every step the balance must match the
 * model and the ledger invariants must hold.
 *
 * On failure fast-check prints `{ seed, path }` with the shrunk counterexample. To replay exactly that case, pass
 * them to fc.assert below: `fc.assert(property, { ...RUNS, seed: <seed>, path: '<path>', endOnFailure: true })`.
 */

const STARTER_CREDITS = 5;
const WORKSHOP_COST = 3;
const RUNS = { numRuns: 25 };

type IdempotentRequest =
  | { kind: 'grant'; amount: number; key: string; reason: string }
  | { kind: 'consume'; amount: number; key: string; feature: string; description?: string; workshop?: number };

type Step =
  | IdempotentRequest
  | { kind: 'createWorkshop'; title: string }
  | { kind: 'chargeWorkshop'; workshop: number }
  | { kind: 'retry'; index: number }
  | { kind: 'reuseKey'; index: number; amountDelta: number };

// Small key pools, so keys are reused (with the same input or a different one) often. Grants and spends draw from
// separate pools: whether an admin's grant key and a user's own key share one namespace is not what this tests.
const key = fc.integer({ min: 0, max: 5 }).map((n) => `k${n}`);
const grantKey = fc.integer({ min: 0, max: 3 }).map((n) => `g${n}`);
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('grant' as const), amount: fc.integer({ min: 1, max: 20 }), key: grantKey, reason: fc.constantFrom('bonus', 'support') }) },
  {
    weight: 4,
    arbitrary: fc.record(
      {
        kind: fc.constant('consume' as const),
        amount: fc.integer({ min: 1, max: 12 }),
        key,
        feature: fc.constantFrom('chat', 'document_generation', 'ai.summary', 'img-gen'),
        description: fc.constantFrom('Report', 'Summary'),
        workshop: fc.nat({ max: 3 }),
      },
      { requiredKeys: ['kind', 'amount', 'key', 'feature'] },
    ),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('createWorkshop' as const), title: fc.constantFrom('Kickoff', 'Retro', 'Planning') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('chargeWorkshop' as const), workshop: fc.nat({ max: 3 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('retry' as const), index: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reuseKey' as const), index: fc.nat(), amountDelta: fc.integer({ min: 1, max: 3 }) }) },
);

interface Model {
  balance: number;
  rows: number;
  /** Idempotency key -> the request that used it and the row it wrote. */
  keys: Map<string, { signature: string; rowId: string }>;
  workshops: { id: string; chargeId?: string }[];
  sent: IdempotentRequest[];
}

/** What the server fingerprints: everything but the key. */
function signatureOf(request: IdempotentRequest, workshopId: string | undefined): string {
  return request.kind === 'grant'
    ? JSON.stringify(['grant', request.amount, request.reason])
    : JSON.stringify(['consume', request.amount, request.feature, request.description ?? null, workshopId ?? null]);
}

describe('ledger properties', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      env: { STARTER_CREDITS: String(STARTER_CREDITS), WORKSHOP_CREDIT_COST: String(WORKSHOP_COST), ADMIN_USER_IDS: ADMIN_SUB },
    });
  });
  afterAll(() => server.close());

  async function send(sub: string, userId: string, model: Model, request: IdempotentRequest) {
    const workshopId = request.kind === 'consume' && request.workshop !== undefined && model.workshops.length > 0
      ? model.workshops[request.workshop % model.workshops.length]!.id
      : undefined;
    const res: GraphQLResponse<{ id: string; amount: number; balanceAfter: number }> =
      request.kind === 'grant'
        ? await server
            .as(ADMIN_SUB)
            .execute(GrantCreditsDocument, { input: { userId, amount: request.amount, reason: request.reason, idempotencyKey: request.key } })
            .then((r) => ({ ...r, data: r.data?.grantCredits }))
        : await server
            .as(sub)
            .execute(ConsumeCreditsDocument, {
              input: { amount: request.amount, feature: request.feature, idempotencyKey: request.key, description: request.description, workshopId },
            })
            .then((r) => ({ ...r, data: r.data?.consumeCredits }));
    model.sent.push(request);

    const signature = signatureOf(request, workshopId);
    const used = model.keys.get(request.key);
    if (used) {
      if (used.signature === signature) expect(res.data?.id).toBe(used.rowId);
      else expect(errorOf(res)?.code).toBe('IDEMPOTENCY_CONFLICT');
      return;
    }
    const change = request.kind === 'grant' ? request.amount : -request.amount;
    if (model.balance + change < 0) {
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'INSUFFICIENT_CREDITS', balance: model.balance, required: request.amount });
      return;
    }
    expect(res.errors).toBeUndefined();
    model.balance += change;
    model.rows += 1;
    expect(res.data).toMatchObject({ amount: change, balanceAfter: model.balance });
    model.keys.set(request.key, { signature, rowId: res.data!.id });
  }

  async function run(sub: string, userId: string, model: Model, s: Step) {
    switch (s.kind) {
      case 'grant':
      case 'consume':
        return send(sub, userId, model, s);
      case 'retry': {
        if (model.sent.length > 0) await send(sub, userId, model, model.sent[s.index % model.sent.length]!);
        return;
      }
      case 'reuseKey': {
        if (model.sent.length > 0) {
          const earlier = model.sent[s.index % model.sent.length]!;
          await send(sub, userId, model, { ...earlier, amount: earlier.amount + s.amountDelta });
        }
        return;
      }
      case 'createWorkshop': {
        const res = await server.as(sub).execute(CreateWorkshopDocument, { input: { title: s.title } });
        expect(res.data?.createWorkshop).toMatchObject({ title: s.title, creditConsumedAt: null });
        model.workshops.push({ id: res.data!.createWorkshop.id });
        return;
      }
      case 'chargeWorkshop': {
        if (model.workshops.length === 0) return;
        const workshop = model.workshops[s.workshop % model.workshops.length]!;
        const res = await server.as(sub).execute(ConsumeWorkshopCreditDocument, { workshopId: workshop.id });
        if (workshop.chargeId) {
          expect(res.data?.consumeWorkshopCredit.id).toBe(workshop.chargeId);
        } else if (model.balance < WORKSHOP_COST) {
          expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'INSUFFICIENT_CREDITS', balance: model.balance, required: WORKSHOP_COST });
        } else {
          model.balance -= WORKSHOP_COST;
          model.rows += 1;
          expect(res.data?.consumeWorkshopCredit).toMatchObject({ amount: -WORKSHOP_COST, balanceAfter: model.balance, feature: 'workshop' });
          expect(res.data?.consumeWorkshopCredit.workshop?.creditConsumedAt).toEqual(expect.any(String));
          workshop.chargeId = res.data!.consumeWorkshopCredit.id;
        }
      }
    }
  }

  it('keeps balance, rows and invariants in step with the model over random operation sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 20 }), async (steps) => {
        const sub = uniqueSub('prop'); // a fresh user per run, so runs are independent on one server
        const userId = await userIdOf(server, sub);
        const model: Model = { balance: STARTER_CREDITS, rows: 1, keys: new Map(), workshops: [], sent: [] };
        for (const s of steps) {
          await run(sub, userId, model, s);
          const balance = await server.as(sub).execute(CreditBalanceDocument);
          expect(balance.data?.creditBalance).toBe(model.balance);
          expect(await ledgerRows(server, userId)).toHaveLength(model.rows);
          expect(await creditProblems(server, userId)).toEqual([]);
        }
      }),
      RUNS,
    );
  }, 300_000);
});
