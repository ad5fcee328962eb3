import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  AddOrganizationMemberDocument,
  CaptureReservationDocument,
  ConsumeForOrganizationDocument,
  CreateOrganizationDocument,
  GrantToOrganizationDocument,
  OrganizationByIdDocument,
  ReleaseReservationDocument,
  RemoveOrganizationMemberDocument,
  ReserveCreditsDocument,
  UpdateOrganizationMemberDocument,
  type OrganizationRole,
} from '../generated/graphql.js';
import { creditProblems } from '../support/ledger.js';
import { startTestServer, type GraphQLResponse, type TestServer } from '../support/server.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';

/**
 * Model-based property test of an organization's shared wallet, through GraphQL only. Each run makes a fresh
 * organization: its OWNER, an ADMIN and two or three MEMBERs with small monthly spend limits (some none). Random
 * steps then grant credits to it (some expiring, far enough ahead that nothing lapses during the run), let members
 * spend (retries and reused keys included), reserve, capture (at most the held amount) and release, let a hold of
 * one second lapse (rarely: the step waits for it), and let the owner (or someone less entitled) change limits,
 * remove members and add them back. Some steps are batches of 2-4 operations sent at once: one member racing their
 * own limit, several people racing for the last credits, a limit changed during spends, a capture racing a release.
 *
 * The model is small: the wallet's balance, held and expiring credits, and per person their membership, role, limit,
 * spend this month and open holds. A step of one operation must get exactly the model's answer. A batch may run in
 * any order: some order of its operations must explain every answer (the code and details of each refusal, the
 * balanceAfter of each posting), and the model moves to that order's end state. After every step the organization
 * as read through `organization { creditBalance heldCredits spendableCredits expiringCredits members }` must equal
 * the model, and the wallet is never negative. After every run the ledger audit (the server's own included, which
 * checks each member's held and this month's spend) is clean, each person's spend this month in the ledger rows is
 * the model's, and no member spent more in a UTC month than the most generous limit they had during it.
 *
 * Deterministic by default: ORG_PROPERTY_SEED (default below) and ORG_PROPERTY_RUNS (default 25) choose the runs.
 * On failure fast-check prints the seed, the path and the shrunk counterexample; ORG_PROPERTY_SEED=<seed>
 * ORG_PROPERTY_PATH=<path> replays that case (a race inside a batch may still go either way on a replay).
 */

const SEED = Number(process.env.ORG_PROPERTY_SEED ?? 20_260_601);
const RUNS = Number(process.env.ORG_PROPERTY_RUNS ?? 25);
const PATH = process.env.ORG_PROPERTY_PATH;

type Role = OrganizationRole;
type Status = 'HELD' | 'CAPTURED' | 'RELEASED' | 'EXPIRED';

/** A person by position: 0 is the OWNER, 1 an ADMIN, the rest MEMBERs. Raw numbers are taken modulo the team. */
type Who = number;

type Op =
  | { kind: 'grant'; amount: number; expiresInDays: number | null }
  /** `ofSpendable`: instead of `amount`, this percentage of what the wallet can spend when the step starts. */
  | { kind: 'spend'; who: Who; amount: number; ofSpendable: number | null; twice: boolean }
  | { kind: 'reserve'; who: Who; amount: number; ofSpendable: number | null; twice: boolean }
  /** An earlier spend's key again, by the same person: with the same amount (a retry) or another (a conflict). */
  | { kind: 'retry'; pick: number; otherAmount: boolean }
  /** A hold of one second, then a wait until it has lapsed (a step of its own). */
  | { kind: 'lapse'; who: Who; amount: number }
  | { kind: 'capture'; pick: number; anyStatus: boolean; share: number }
  | { kind: 'release'; pick: number; anyStatus: boolean; by: Who | 'holder' }
  | { kind: 'limit'; by: Who; who: Who; limit: number | null }
  /** `comeback`: when the removal succeeds, the owner adds them back with this limit in the very next step. */
  | { kind: 'remove'; by: Who; who: Who; comeback: { limit: number | null } | null }
  /** `exact`: add back exactly `who`; otherwise someone who was removed, if anyone was. */
  | { kind: 'readd'; by: Who; who: Who; limit: number | null; exact?: boolean };

/** An operation made concrete against the model as it stood before its step. */
type Call =
  | { kind: 'grant'; amount: number; expiresAt: string | null; key: string }
  | { kind: 'spend'; who: number; amount: number; key: string }
  | { kind: 'reserve'; who: number; amount: number; key: string; ttlSeconds: number }
  | { kind: 'capture'; who: number; reservation: string; amount: number }
  | { kind: 'release'; by: number; reservation: string }
  | { kind: 'limit'; by: number; who: number; limit: number | null }
  | { kind: 'remove'; by: number; who: number; comeback: { limit: number | null } | null }
  | { kind: 'readd'; by: number; who: number; limit: number | null };

interface MemberView {
  role: Role;
  limit: number | null;
  spent: number;
  held: number;
}

/** What the server answered, reduced to what the model can predict. `code` is null on success. */
interface Answer {
  code: string | null;
  ext?: Record<string, unknown>;
  message?: string;
  id?: string;
  balanceAfter?: number | null;
  actorId?: string | null;
  status?: string;
  amount?: number;
  capturedAmount?: number | null;
  expiresAt?: string;
  member?: MemberView & { userId: string };
  removed?: boolean;
}

interface PersonModel extends MemberView {
  id: string;
  active: boolean;
}

interface ReservationModel {
  id: string;
  holder: number;
  amount: number;
  status: Status;
  captured: number | null;
  balanceAfter: number | null;
}

interface Model {
  month: string;
  balance: number;
  held: number;
  expiring: number;
  people: PersonModel[];
  reservations: ReservationModel[];
  /**
   * Holds that have lapsed (EXPIRED to the rules: they no longer count anywhere) but may still be in the account's and
   * member's held_credits columns, oldest first: the server frees lapsed holds when something next takes the account's
   * lock, or never when nothing needs to. Each time, it frees every hold lapsed by then, so what the columns still
   * count is always the most recently lapsed of these: the list without some of its first entries.
   */
  lapsedInColumns: { holder: number; amount: number }[];
  /** Consumption keys already applied: a retry returns the same row, another request with the key is a conflict. */
  keys: Record<string, { id: string; balanceAfter: number; amount: number }>;
  /** Reservation keys already applied, and the reservation each made. */
  holdKeys: Record<string, string>;
  /** Every spend sent, for retries. */
  spends: { who: number; amount: number; key: string }[];
}

/** A limit a person had from `from` until `to` (open: still has it), in ms since the epoch. */
interface LimitSpan {
  limit: number | null;
  from: number;
  to: number | null;
}

const monthOf = (at: Date) => at.toISOString().slice(0, 7);

// ---------------------------------------------------------------------------------------------- arbitraries

const who = fc.nat({ max: 59 }); // 60 divides evenly by teams of 4 and 5
const manager = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: who });
const limit = fc.option(fc.integer({ min: 0, max: 15 }), { nil: null, freq: 3 });
const amount = fc.integer({ min: 1, max: 8 });
const pick = fc.nat({ max: 59 });
const anyStatus = fc.constantFrom(false, false, false, true);
const ofSpendable = fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 30, max: 100 }) });

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('grant' as const),
      amount: fc.integer({ min: 1, max: 20 }),
      expiresInDays: fc.option(fc.integer({ min: 10, max: 60 }), { nil: null, freq: 2 }),
    }),
  },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('spend' as const), who, amount, ofSpendable, twice: fc.constantFrom(false, false, false, true) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('reserve' as const), who, amount, ofSpendable, twice: fc.constantFrom(false, false, false, true) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('retry' as const), pick, otherAmount: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('capture' as const), pick, anyStatus, share: fc.integer({ min: 1, max: 100 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('release' as const),
      pick,
      anyStatus,
      by: fc.oneof({ weight: 3, arbitrary: fc.constant('holder' as const) }, { weight: 1, arbitrary: manager }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('limit' as const), by: manager, who, limit }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove' as const), by: manager, who, comeback: fc.option(fc.record({ limit }), { nil: null, freq: 2 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('readd' as const), by: manager, who, limit }) },
);

const move = (who: Who, reserve: boolean, amount: number, ofSpendable: number | null): Op =>
  reserve ? { kind: 'reserve', who, amount, ofSpendable, twice: false } : { kind: 'spend', who, amount, ofSpendable, twice: false };

/** One member spending and reserving several times at once: races on their limit and on the wallet. */
const burst: fc.Arbitrary<Op[]> = fc
  .record({ who, moves: fc.array(fc.record({ reserve: fc.boolean(), amount }), { minLength: 2, maxLength: 4 }) })
  .map(({ who, moves }) => moves.map((m) => move(who, m.reserve, m.amount, null)));

/** Several people at once, each after a large share of what the wallet can spend: races on the wallet itself. */
const rush: fc.Arbitrary<Op[]> = fc
  .record({ first: who, moves: fc.array(fc.record({ reserve: fc.boolean(), share: fc.integer({ min: 34, max: 80 }) }), { minLength: 2, maxLength: 4 }) })
  .map(({ first, moves }) => moves.map((m, i) => move(first + i, m.reserve, 1, m.share)));

/** A member's limit changed while they spend and reserve. */
const squeeze: fc.Arbitrary<Op[]> = fc
  .record({ by: manager, who, limit, moves: fc.array(fc.record({ reserve: fc.boolean(), amount }), { minLength: 1, maxLength: 3 }) })
  .map(({ by, who, limit, moves }) => [{ kind: 'limit', by, who, limit }, ...moves.map((m) => move(who, m.reserve, m.amount, null))]);

/** A capture and a release of the same hold at once (and maybe its holder losing their limit or membership). */
const resolveRace: fc.Arbitrary<Op[]> = fc
  .record({ pick, share: fc.integer({ min: 1, max: 100 }), by: fc.constantFrom<Who | 'holder'>('holder', 0), extra: fc.option(op, { nil: undefined, freq: 2 }) })
  .map(({ pick, share, by, extra }) => [
    { kind: 'capture', pick, anyStatus: false, share },
    { kind: 'release', pick, anyStatus: false, by },
    ...(extra ? [extra] : []),
  ]);

/** A step: one operation, or a batch sent at once. */
const step: fc.Arbitrary<Op[]> = fc.oneof(
  { weight: 20, arbitrary: op.map((o) => [o]) },
  { weight: 8, arbitrary: fc.array(op, { minLength: 2, maxLength: 4 }) },
  { weight: 4, arbitrary: burst },
  { weight: 4, arbitrary: rush },
  { weight: 4, arbitrary: squeeze },
  { weight: 4, arbitrary: resolveRace },
  // Rare: each waits a second.
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('lapse' as const), who, amount }).map((o): Op[] => [o]) },
);

const team = fc.record({
  /** Limits of the ADMIN and the MEMBERs, in order (the OWNER starts with none). */
  limits: fc.array(limit, { minLength: 3, maxLength: 4 }),
  credits: fc.integer({ min: 0, max: 40 }),
  creditsExpire: fc.boolean(),
});

// ---------------------------------------------------------------------------------------------- the model

const describeAnswer = (a: Answer) =>
  a.code === null ? `success ${JSON.stringify({ ...a, code: undefined })}` : `${a.code} ${JSON.stringify(a.ext ?? {})} (${a.message ?? ''})`;

function refused(a: Answer, code: string, details: Record<string, unknown> = {}): string | undefined {
  if (a.code !== code) return `expected ${code} ${JSON.stringify(details)}, got ${describeAnswer(a)}`;
  for (const [k, v] of Object.entries(details)) {
    if (a.ext?.[k] !== v) return `expected ${code} ${JSON.stringify(details)}, got ${describeAnswer(a)}`;
  }
  return undefined;
}

function succeeded(a: Answer, expected: Partial<Answer>): string | undefined {
  if (a.code !== null) return `expected success ${JSON.stringify(expected)}, got ${describeAnswer(a)}`;
  for (const [k, v] of Object.entries(expected)) {
    if (JSON.stringify(a[k as keyof Answer]) !== JSON.stringify(v)) return `expected success ${JSON.stringify(expected)}, got ${describeAnswer(a)}`;
  }
  return undefined;
}

/** The details of SPEND_LIMIT_EXCEEDED when `more` would take the person past their limit, else undefined. */
function overLimit(p: PersonModel, more: number) {
  if (p.limit === null || p.spent + p.held + more <= p.limit) return undefined;
  return { limit: p.limit, spent: p.spent, held: p.held, required: more };
}

/** A debit draws on expiring credits first. */
function debit(m: Model, credits: number) {
  m.balance -= credits;
  m.expiring -= Math.min(credits, m.expiring);
}

const managerRole = (p: PersonModel) => p.active && (p.role === 'OWNER' || p.role === 'ADMIN');

/**
 * A member as a management answer shows them. Its heldCredits is the column, which may still count lapsed holds (see
 * Model.lapsedInColumns); those the server has freed by then, the model forgets too (the fewest that explain it).
 */
function memberAnswer(m: Model, who: number, a: Answer): string | undefined {
  const p = m.people[who]!;
  const inColumns = (freed: number) => m.lapsedInColumns.slice(freed).reduce((sum, l) => sum + (l.holder === who ? l.amount : 0), 0);
  let freed = 0;
  while (freed < m.lapsedInColumns.length && a.member?.held !== p.held + inColumns(freed)) freed++;
  const wrong = succeeded(a, { member: { role: p.role, limit: p.limit, spent: p.spent, held: p.held + inColumns(freed), userId: p.id } });
  if (!wrong) m.lapsedInColumns = m.lapsedInColumns.slice(freed);
  return wrong;
}

/**
 * Runs one call on the model, as the rules say the server must, and compares with what the server answered: a
 * description of the first disagreement, or undefined. Mutates `m` (callers pass a copy when trying orders).
 */
function simulate(m: Model, c: Call, a: Answer): string | undefined {
  switch (c.kind) {
    case 'grant': {
      m.balance += c.amount;
      if (c.expiresAt) m.expiring += c.amount;
      return succeeded(a, { balanceAfter: m.balance });
    }
    case 'spend': {
      const p = m.people[c.who]!;
      if (!p.active) return refused(a, 'NOT_FOUND');
      const used = m.keys[c.key];
      if (used && used.amount !== c.amount) return refused(a, 'IDEMPOTENCY_CONFLICT');
      if (used) return succeeded(a, { id: used.id, balanceAfter: used.balanceAfter, actorId: p.id });
      const over = overLimit(p, c.amount);
      if (over) return refused(a, 'SPEND_LIMIT_EXCEEDED', over);
      if (m.balance - m.held < c.amount) {
        return refused(a, 'INSUFFICIENT_CREDITS', { balance: m.balance, required: c.amount, spendable: m.balance - m.held });
      }
      debit(m, c.amount);
      p.spent += c.amount;
      const wrong = succeeded(a, { balanceAfter: m.balance, actorId: p.id });
      if (!wrong) m.keys[c.key] = { id: a.id!, balanceAfter: m.balance, amount: c.amount };
      return wrong;
    }
    case 'reserve': {
      const p = m.people[c.who]!;
      if (!p.active) return refused(a, 'NOT_FOUND');
      const earlier = m.reservations.find((r) => r.id === m.holdKeys[c.key]);
      if (earlier) return succeeded(a, { id: earlier.id, status: earlier.status, amount: earlier.amount });
      const over = overLimit(p, c.amount);
      if (over) return refused(a, 'SPEND_LIMIT_EXCEEDED', over);
      if (m.balance - m.held < c.amount) {
        return refused(a, 'INSUFFICIENT_CREDITS', { balance: m.balance, required: c.amount, spendable: m.balance - m.held });
      }
      m.held += c.amount;
      p.held += c.amount;
      const wrong = succeeded(a, { status: 'HELD', amount: c.amount });
      if (!wrong) {
        m.reservations.push({ id: a.id!, holder: c.who, amount: c.amount, status: 'HELD', captured: null, balanceAfter: null });
        m.holdKeys[c.key] = a.id!;
      }
      return wrong;
    }
    case 'capture': {
      const r = m.reservations.find((x) => x.id === c.reservation)!;
      const p = m.people[c.who]!;
      if (!p.active) return refused(a, 'NOT_FOUND');
      if (r.status === 'CAPTURED' && r.captured === c.amount) {
        return succeeded(a, { status: 'CAPTURED', capturedAmount: c.amount, balanceAfter: r.balanceAfter });
      }
      if (r.status === 'EXPIRED') return refused(a, 'RESERVATION_EXPIRED', { reservationId: r.id });
      if (r.status !== 'HELD') return refused(a, 'RESERVATION_ALREADY_RESOLVED', { status: r.status });
      debit(m, c.amount);
      m.held -= r.amount;
      p.held -= r.amount;
      p.spent += c.amount;
      r.status = 'CAPTURED';
      r.captured = c.amount;
      r.balanceAfter = m.balance;
      return succeeded(a, { status: 'CAPTURED', capturedAmount: c.amount, balanceAfter: m.balance });
    }
    case 'release': {
      const r = m.reservations.find((x) => x.id === c.reservation)!;
      const holder = m.people[r.holder]!;
      const mayRelease = (c.by === r.holder && holder.active) || managerRole(m.people[c.by]!);
      if (!mayRelease) return refused(a, 'NOT_FOUND');
      if (r.status === 'RELEASED') return succeeded(a, { status: 'RELEASED' });
      if (r.status === 'EXPIRED') return refused(a, 'RESERVATION_EXPIRED', { reservationId: r.id });
      if (r.status !== 'HELD') return refused(a, 'RESERVATION_ALREADY_RESOLVED', { status: r.status });
      m.held -= r.amount;
      holder.held -= r.amount;
      r.status = 'RELEASED';
      return succeeded(a, { status: 'RELEASED' });
    }
    case 'limit': {
      const actor = m.people[c.by]!;
      const target = m.people[c.who]!;
      if (!actor.active) return refused(a, 'NOT_FOUND');
      if (!managerRole(actor)) return refused(a, 'FORBIDDEN');
      if (!target.active) return refused(a, 'NOT_FOUND');
      if (target.role === 'OWNER' && actor.role !== 'OWNER') return refused(a, 'FORBIDDEN');
      target.limit = c.limit;
      return memberAnswer(m, c.who, a);
    }
    case 'remove': {
      const actor = m.people[c.by]!;
      const target = m.people[c.who]!;
      const leaving = c.by === c.who;
      if (!actor.active) return refused(a, 'NOT_FOUND');
      if (!leaving && !managerRole(actor)) return refused(a, 'FORBIDDEN');
      if (!target.active) return refused(a, 'NOT_FOUND');
      if (target.role === 'OWNER' && !leaving && actor.role !== 'OWNER') return refused(a, 'FORBIDDEN');
      if (target.role === 'OWNER' && !m.people.some((p, i) => i !== c.who && p.active && p.role === 'OWNER')) {
        return refused(a, 'BAD_USER_INPUT', { field: 'userId' });
      }
      target.active = false; // their holds stay open, and what they spent stays counted
      return succeeded(a, { removed: true });
    }
    case 'readd': {
      const actor = m.people[c.by]!;
      const target = m.people[c.who]!;
      if (!actor.active) return refused(a, 'NOT_FOUND');
      if (!managerRole(actor)) return refused(a, 'FORBIDDEN');
      if (target.role === 'OWNER' && actor.role !== 'OWNER') return refused(a, 'FORBIDDEN'); // only an owner makes an owner
      if (target.active) return refused(a, 'BAD_USER_INPUT', { field: 'input.userId' });
      target.active = true; // back with what they spent this month and still hold
      target.limit = c.limit;
      return memberAnswer(m, c.who, a);
    }
  }
}

function* orders(n: number): Generator<number[]> {
  if (n === 0) {
    yield [];
    return;
  }
  for (const rest of orders(n - 1)) {
    for (let at = 0; at <= rest.length; at++) yield [...rest.slice(0, at), n - 1, ...rest.slice(at)];
  }
}

/** Every end state of an order of `calls` that explains all the answers, and why the order as sent did not (if it did not). */
function explain(model: Model, calls: Call[], answers: Answer[]): { ends: Model[]; asSent?: string } {
  const ends = new Map<string, Model>();
  let asSent: string | undefined;
  const identity = calls.map((_, i) => i).join();
  for (const order of orders(calls.length)) {
    const m = structuredClone(model);
    let wrong: string | undefined;
    for (const i of order) {
      wrong = simulate(m, calls[i]!, answers[i]!);
      if (wrong) {
        wrong = `call ${i} (${JSON.stringify(calls[i])}): ${wrong}`;
        break;
      }
    }
    if (!wrong) ends.set(JSON.stringify(m), m);
    else if (order.join() === identity) asSent = wrong;
  }
  return { ends: [...ends.values()], asSent };
}

interface Observed {
  balance: number;
  held: number;
  spendable: number;
  expiring: number;
  members: Map<string, MemberView>;
}

/** Where the model and the organization as read disagree, with `lapsed` (lapsed holds) still in the held columns. */
function differences(m: Model, o: Observed, lapsed: Model['lapsedInColumns']): string[] {
  const out: string[] = [];
  const heldOf = (holder: number) => lapsed.filter((l) => l.holder === holder).reduce((sum, l) => sum + l.amount, 0);
  const held = m.held + lapsed.reduce((sum, l) => sum + l.amount, 0);
  const wallet = { balance: m.balance, held, spendable: m.balance - held, expiring: m.expiring };
  const seen = { balance: o.balance, held: o.held, spendable: o.spendable, expiring: o.expiring };
  if (JSON.stringify(wallet) !== JSON.stringify(seen)) out.push(`wallet: model ${JSON.stringify(wallet)}, server ${JSON.stringify(seen)}`);
  const active = m.people.filter((p) => p.active).map((p) => p.id).sort();
  const listed = [...o.members.keys()].sort();
  if (JSON.stringify(active) !== JSON.stringify(listed)) out.push(`members: model ${JSON.stringify(active)}, server ${JSON.stringify(listed)}`);
  m.people.forEach((p, i) => {
    const view = o.members.get(p.id);
    if (!p.active || !view) return;
    const want = { role: p.role, limit: p.limit, spent: p.spent, held: p.held + heldOf(i) };
    if (JSON.stringify(want) !== JSON.stringify(view)) out.push(`person ${i}: model ${JSON.stringify(want)}, server ${JSON.stringify(view)}`);
  });
  return out;
}

/**
 * Where the model and the organization as read disagree. The held columns may still count the most recently lapsed
 * holds (see Model.lapsedInColumns); those the server has freed, the model forgets too.
 */
function settle(m: Model, o: Observed): string[] {
  for (let freed = 0; freed <= m.lapsedInColumns.length; freed++) {
    if (differences(m, o, m.lapsedInColumns.slice(freed)).length === 0) {
      m.lapsedInColumns = m.lapsedInColumns.slice(freed);
      return [];
    }
  }
  return differences(m, o, m.lapsedInColumns);
}

/** A hold that has lapsed: it no longer counts, though it may stay in the held columns for a while (see Model). */
function lapse(m: Model, reservationId: string) {
  const r = m.reservations.find((x) => x.id === reservationId)!;
  r.status = 'EXPIRED';
  m.held -= r.amount;
  m.people[r.holder]!.held -= r.amount;
  m.lapsedInColumns.push({ holder: r.holder, amount: r.amount });
}

/** The most a person may have spent in `month` (YYYY-MM): their most generous limit while it lasted; Infinity for none. */
function mostGenerous(spans: LimitSpan[], month: string): number {
  const start = Date.parse(`${month}-01T00:00:00Z`);
  const end = new Date(start).setUTCMonth(new Date(start).getUTCMonth() + 1);
  let most = -Infinity;
  for (const span of spans) {
    if (span.from < end && (span.to ?? Infinity) >= start) most = Math.max(most, span.limit ?? Infinity);
  }
  return most;
}

// ---------------------------------------------------------------------------------------------- the test

describe('organization wallet properties', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { ADMIN_USER_IDS: ADMIN_SUB } });
  });
  afterAll(() => server.close());

  const answerOf = <T>(res: GraphQLResponse<T>, success: (data: T) => Omit<Answer, 'code'>): Answer => {
    const error = res.errors?.[0];
    if (error) return { code: String(error.extensions?.code ?? 'NO_CODE'), ext: (error.extensions ?? {}) as Record<string, unknown>, message: error.message };
    if (!res.data) return { code: 'NO_DATA', message: `HTTP ${res.status}` };
    return { code: null, ...success(res.data) };
  };

  const memberOf = (node: { role: Role; monthlySpendLimit: number | null; spentThisMonth: number; heldCredits: number; user: { id: string } }) => ({
    role: node.role,
    limit: node.monthlySpendLimit,
    spent: node.spentThisMonth,
    held: node.heldCredits,
    userId: node.user.id,
  });

  async function send(orgId: string, subs: string[], c: Call): Promise<Answer> {
    switch (c.kind) {
      case 'grant': {
        const res = await server.as(ADMIN_SUB).execute(GrantToOrganizationDocument, {
          input: { organizationId: orgId, amount: c.amount, reason: 'team credits', idempotencyKey: c.key, expiresAt: c.expiresAt },
        });
        return answerOf(res, (d) => ({ id: d.grantCredits.id, balanceAfter: d.grantCredits.balanceAfter }));
      }
      case 'spend': {
        const res = await server.as(subs[c.who]!).execute(ConsumeForOrganizationDocument, {
          input: { amount: c.amount, feature: 'chat', idempotencyKey: c.key, organizationId: orgId },
        });
        return answerOf(res, (d) => ({ id: d.consumeCredits.id, balanceAfter: d.consumeCredits.balanceAfter, actorId: d.consumeCredits.actor?.id ?? null }));
      }
      case 'reserve': {
        const res = await server.as(subs[c.who]!).execute(ReserveCreditsDocument, {
          input: { amount: c.amount, feature: 'llm.run', idempotencyKey: c.key, organizationId: orgId, ttlSeconds: c.ttlSeconds },
        });
        return answerOf(res, (d) => ({
          id: d.reserveCredits.id,
          status: d.reserveCredits.status,
          amount: d.reserveCredits.amount,
          expiresAt: d.reserveCredits.expiresAt,
        }));
      }
      case 'capture': {
        const res = await server.as(subs[c.who]!).execute(CaptureReservationDocument, { id: c.reservation, amount: c.amount });
        return answerOf(res, (d) => ({
          status: d.captureReservation.status,
          capturedAmount: d.captureReservation.capturedAmount,
          balanceAfter: d.captureReservation.transaction?.balanceAfter ?? null,
        }));
      }
      case 'release': {
        const res = await server.as(subs[c.by]!).execute(ReleaseReservationDocument, { id: c.reservation });
        return answerOf(res, (d) => ({ status: d.releaseReservation.status }));
      }
      case 'limit': {
        const change = c.limit === null ? { clearMonthlySpendLimit: true } : { monthlySpendLimit: c.limit };
        const res = await server.as(subs[c.by]!).execute(UpdateOrganizationMemberDocument, { input: { organizationId: orgId, userId: ids[c.who]!, ...change } });
        return answerOf(res, (d) => ({ member: memberOf(d.updateOrganizationMember) }));
      }
      case 'remove': {
        const res = await server.as(subs[c.by]!).execute(RemoveOrganizationMemberDocument, { organizationId: orgId, userId: ids[c.who]! });
        return answerOf(res, (d) => ({ removed: d.removeOrganizationMember }));
      }
      case 'readd': {
        const res = await server.as(subs[c.by]!).execute(AddOrganizationMemberDocument, {
          input: { organizationId: orgId, userId: ids[c.who]!, role: roleOf(c.who), monthlySpendLimit: c.limit },
        });
        return answerOf(res, (d) => ({ member: memberOf(d.addOrganizationMember) }));
      }
    }
  }

  // Set per run (runs are sequential): the people's user ids, by position.
  let ids: string[] = [];
  const roleOf = (i: number): Role => (i === 0 ? 'OWNER' : i === 1 ? 'ADMIN' : 'MEMBER');

  /** The concrete calls of a step, against the model as it is before the step; operations with nothing to act on drop out. */
  function callsOf(step: Op[], m: Model, nextKey: () => string): Call[] {
    const n = m.people.length;
    const calls: Call[] = [];
    const amountOf = (o: { amount: number; ofSpendable: number | null }) =>
      o.ofSpendable === null ? o.amount : Math.max(1, Math.ceil((o.ofSpendable / 100) * (m.balance - m.held)));
    const holdOf = (pickAt: number, any: boolean) => {
      const held = m.reservations.filter((r) => r.status === 'HELD');
      const from = any || held.length === 0 ? m.reservations : held;
      return from.length === 0 ? undefined : from[pickAt % from.length];
    };
    for (const o of step) {
      switch (o.kind) {
        case 'grant':
          calls.push({
            kind: 'grant',
            amount: o.amount,
            expiresAt: o.expiresInDays === null ? null : new Date(Date.now() + o.expiresInDays * 86_400_000).toISOString(),
            key: nextKey(),
          });
          break;
        case 'spend': {
          const key = nextKey();
          calls.push({ kind: 'spend', who: o.who % n, amount: amountOf(o), key });
          if (o.twice) calls.push({ kind: 'spend', who: o.who % n, amount: amountOf(o), key });
          m.spends.push({ who: o.who % n, amount: amountOf(o), key });
          break;
        }
        case 'retry': {
          const earlier = m.spends[o.pick % Math.max(1, m.spends.length)];
          if (earlier) calls.push({ kind: 'spend', who: earlier.who, amount: earlier.amount + (o.otherAmount ? 1 : 0), key: earlier.key });
          break;
        }
        case 'reserve': {
          const key = nextKey();
          calls.push({ kind: 'reserve', who: o.who % n, amount: amountOf(o), key, ttlSeconds: 3600 });
          if (o.twice) calls.push({ kind: 'reserve', who: o.who % n, amount: amountOf(o), key, ttlSeconds: 3600 });
          break;
        }
        case 'lapse':
          calls.push({ kind: 'reserve', who: o.who % n, amount: o.amount, key: nextKey(), ttlSeconds: 1 });
          break;
        case 'capture': {
          const r = holdOf(o.pick, o.anyStatus);
          if (r) calls.push({ kind: 'capture', who: r.holder, reservation: r.id, amount: Math.max(1, Math.ceil((o.share / 100) * r.amount)) });
          break;
        }
        case 'release': {
          const r = holdOf(o.pick, o.anyStatus);
          if (r) calls.push({ kind: 'release', by: o.by === 'holder' ? r.holder : o.by % n, reservation: r.id });
          break;
        }
        case 'limit':
          calls.push({ kind: 'limit', by: o.by % n, who: o.who % n, limit: o.limit });
          break;
        case 'remove':
          calls.push({ kind: 'remove', by: o.by % n, who: o.who % n, comeback: o.comeback });
          break;
        case 'readd': {
          // Mostly someone who was removed; when nobody was, anyone (and the answer is a refusal).
          const gone = m.people.map((p, i) => (p.active ? -1 : i)).filter((i) => i >= 0);
          const back = o.exact ? o.who % n : gone.length > 0 ? gone[o.who % gone.length]! : o.who % n;
          calls.push({ kind: 'readd', by: o.by % n, who: back, limit: o.limit });
          break;
        }
      }
    }
    return calls;
  }

  async function observe(ownerSub: string, orgId: string): Promise<Observed> {
    const res = await server.as(ownerSub).execute(OrganizationByIdDocument, { id: orgId, first: 10 });
    const org = res.data?.organization;
    if (!org) throw new Error(`reading the organization failed: ${JSON.stringify(res.errors)}`);
    const members = new Map<string, MemberView>();
    for (const { node } of org.members.edges) {
      const { userId, ...view } = memberOf(node);
      members.set(userId, view);
    }
    return { balance: org.creditBalance, held: org.heldCredits, spendable: org.spendableCredits, expiring: org.expiringCredits, members };
  }

  /** Steps never straddle a UTC month boundary: near one, wait until it has passed (the model's spend then starts over). */
  async function clearOfMonthEnd(m: Model) {
    const now = new Date();
    const next = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    if (next - now.getTime() < 5_000) await new Promise((resolve) => setTimeout(resolve, next - now.getTime() + 100));
    const month = monthOf(new Date());
    if (month !== m.month) {
      m.month = month;
      for (const p of m.people) p.spent = 0;
    }
  }

  async function setUp(setup: { limits: (number | null)[]; credits: number; creditsExpire: boolean }, spans: LimitSpan[][]) {
    const start = Date.now();
    const subs = [uniqueSub('orgprop_owner'), ...setup.limits.map((_, i) => uniqueSub(`orgprop_${i + 1}`))];
    ids = await Promise.all(subs.map((sub) => userIdOf(server, sub)));
    const created = await server.as(subs[0]!).execute(CreateOrganizationDocument, { input: { name: 'Property team' } });
    if (!created.data) throw new Error(`createOrganization failed: ${JSON.stringify(created.errors)}`);
    const orgId = created.data.createOrganization.id;
    const people: PersonModel[] = [{ id: ids[0]!, active: true, role: 'OWNER', limit: null, spent: 0, held: 0 }];
    spans.push([{ limit: null, from: start, to: null }]);
    for (const [i, limit] of setup.limits.entries()) {
      const res = await server.as(subs[0]!).execute(AddOrganizationMemberDocument, {
        input: { organizationId: orgId, userId: ids[i + 1]!, role: roleOf(i + 1), monthlySpendLimit: limit },
      });
      if (res.errors) throw new Error(`addOrganizationMember failed: ${JSON.stringify(res.errors)}`);
      people.push({ id: ids[i + 1]!, active: true, role: roleOf(i + 1), limit, spent: 0, held: 0 });
      spans.push([{ limit, from: start, to: null }]);
    }
    const model: Model = { month: monthOf(new Date()), balance: 0, held: 0, expiring: 0, people, reservations: [], lapsedInColumns: [], keys: {}, holdKeys: {}, spends: [] };
    if (setup.credits > 0) {
      const expiresAt = setup.creditsExpire ? new Date(Date.now() + 30 * 86_400_000).toISOString() : null;
      const res = await server.as(ADMIN_SUB).execute(GrantToOrganizationDocument, {
        input: { organizationId: orgId, amount: setup.credits, reason: 'team credits', idempotencyKey: 'initial', expiresAt },
      });
      if (!res.data) throw new Error(`grantCredits failed: ${JSON.stringify(res.errors)}`);
      model.balance = setup.credits;
      model.expiring = expiresAt ? setup.credits : 0;
    }
    return { subs, orgId, model };
  }

  /** After a batch: each limit someone got in it lasted at least for the batch, and the one they ended with lasts on. */
  function recordLimits(calls: Call[], answers: Answer[], end: Model, spans: LimitSpan[][], started: number, ended: number) {
    const touched = new Set<number>();
    calls.forEach((c, i) => {
      if ((c.kind === 'limit' || c.kind === 'readd') && answers[i]!.code === null) {
        touched.add(c.who);
        spans[c.who]!.push({ limit: c.limit, from: started, to: ended });
      }
    });
    for (const w of touched) {
      for (const span of spans[w]!) if (span.to === null) span.to = ended;
      spans[w]!.push({ limit: end.people[w]!.limit, from: started, to: null });
    }
  }

  async function checkRun(orgId: string, model: Model, spans: LimitSpan[][]) {
    expect(await creditProblems(server, orgId)).toEqual([]);
    const { rows } = await server.sql.query<{ actor_id: string; month: string; spent: number }>(
      `select actor_id, to_char(effective_at at time zone 'UTC', 'YYYY-MM') as month, -sum(amount)::int as spent
       from credit_transactions
       where account_id = $1 and type = 'consumption' and status = 'completed'
       group by actor_id, month order by actor_id, month`,
      [orgId],
    );
    for (const row of rows) {
      const i = model.people.findIndex((p) => p.id === row.actor_id);
      if (i < 0) throw new Error(`a consumption of ${row.spent} by ${row.actor_id}, who is not in the team`);
      const allowed = mostGenerous(spans[i]!, row.month);
      if (row.spent > allowed) {
        throw new Error(`person ${i} spent ${row.spent} in ${row.month}, past the most generous limit they had then (${allowed}); limits: ${JSON.stringify(spans[i])}`);
      }
    }
    // The rows of this month agree with the model's count of each person's spend (removed ones included).
    const month = monthOf(new Date());
    if (month === model.month) {
      const fromRows = model.people.map((p) => rows.find((r) => r.actor_id === p.id && r.month === month)?.spent ?? 0);
      expect(fromRows).toEqual(model.people.map((p) => p.spent));
    }
    const {
      rows: [lowest],
    } = await server.sql.query<{ low: number | null }>(`select min(balance_after)::int as low from credit_transactions where account_id = $1 and status = 'completed'`, [
      orgId,
    ]);
    expect(lowest!.low ?? 0).toBeGreaterThanOrEqual(0);
  }

  it('keeps the shared wallet, each member\u2019s spend, holds and limits in step with the model, alone and in races', async () => {
    const started = Date.now();
    let runs = 0;
    let steps = 0;
    let batches = 0;
    const outcomes = new Map<string, number>();
    console.log(`organization properties: seed ${SEED}, ${RUNS} runs${PATH ? `, path ${PATH}` : ''} (ORG_PROPERTY_SEED / ORG_PROPERTY_RUNS / ORG_PROPERTY_PATH to replay)`);
    await fc.assert(
      fc.asyncProperty(team, fc.array(step, { minLength: 1, maxLength: 16, size: 'max' }), async (setup, plan) => {
        runs += 1;
        const spans: LimitSpan[][] = [];
        const { subs, orgId, model: initial } = await setUp(setup, spans);
        let model = initial;
        let counter = 0;
        const nextKey = () => `k${++counter}`;
        const queue = [...plan];
        for (let s = 0; queue.length > 0; s++) {
          const ops = queue.shift()!;
          await clearOfMonthEnd(model);
          const calls = callsOf(ops, model, nextKey);
          if (calls.length === 0) continue;
          steps += 1;
          if (calls.length > 1) batches += 1;
          const sentAt = Date.now();
          const answers = await Promise.all(calls.map((c) => send(orgId, subs, c)));
          const answeredAt = Date.now();
          // A hold of one second: wait until it has lapsed, by the clock the server's ledger reads (this process's).
          const lapsing = calls.flatMap((c, i) => (c.kind === 'reserve' && c.ttlSeconds === 1 && answers[i]!.code === null ? [answers[i]!] : []));
          for (const held of lapsing) await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(held.expiresAt!) + 20 - Date.now())));
          for (const a of answers) outcomes.set(a.code ?? 'ok', (outcomes.get(a.code ?? 'ok') ?? 0) + 1);
          const observed = await observe(subs[0]!, orgId);
          if (observed.balance < 0 || observed.spendable < 0 || observed.held < 0) {
            throw new Error(`step ${s}: the wallet went negative: ${JSON.stringify({ ...observed, members: undefined })}`);
          }
          const { ends, asSent } = explain(model, calls, answers);
          const context = () =>
            `step ${s}, calls ${JSON.stringify(calls)}\nanswers ${JSON.stringify(answers.map(describeAnswer))}\nmodel before ${JSON.stringify({ ...model, keys: undefined, holdKeys: undefined, spends: undefined })}`;
          if (ends.length === 0) {
            throw new Error(`no order of the calls explains the answers (${calls.length > 1 ? 'as sent: ' : ''}${asSent})\n${context()}`);
          }
          for (const m of ends) for (const held of lapsing) lapse(m, held.id!);
          const end = ends.find((m) => settle(m, observed).length === 0);
          if (!end) {
            throw new Error(`the organization as read disagrees with the model: ${settle(ends[0]!, observed).join('; ')}\n${context()}`);
          }
          recordLimits(calls, answers, end, spans, sentAt, answeredAt);
          model = end;
          calls.forEach((c, i) => {
            if (c.kind === 'remove' && c.comeback && answers[i]!.code === null) {
              queue.unshift([{ kind: 'readd', by: 0, who: c.who, limit: c.comeback.limit, exact: true }]);
            }
          });
        }
        await checkRun(orgId, model, spans);
      }),
      // Shrinking replays whole runs; past the time limit the smallest failure found so far is reported.
      { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: 240_000, markInterruptAsFailure: true, ...(PATH ? { path: PATH, endOnFailure: true } : {}) },
    );
    const answered = [...outcomes].sort(([a], [b]) => (a < b ? -1 : 1)).map(([code, n]) => `${code} ${n}`).join(', ');
    console.log(
      `organization properties: seed ${SEED}, ${runs} runs (${steps} steps, ${batches} of them concurrent) in ${((Date.now() - started) / 1000).toFixed(1)} s; answers: ${answered}`,
    );
  }, 300_000);
});
