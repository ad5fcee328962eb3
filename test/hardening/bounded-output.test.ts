import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  buildSchema,
  getNamedType,
  getNullableType,
  isEnumType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  Lexer,
  parse,
  Source,
  TokenKind,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLList,
  type GraphQLOutputType,
  type GraphQLObjectType,
  type GraphQLSchema,
} from 'graphql';
import { MAX_PAGE_SIZE } from '../../src/core/pagination.js';
import { MAX_EVENT_PAYLOAD_BYTES } from '../../src/events/outbox.js';
import { MAX_RESPONSE_BODY_BYTES } from '../../src/events/webhook-client.js';
import { estimateCost, MAX_COST, MAX_RESPONSE_BYTES } from '../../src/graphql/cost.js';
import { buildTallySchema } from '../../src/graphql/schema.js';
import { codesOf } from '../support/errors.js';
import { creditProblems } from '../support/ledger.js';
import { startTestServer, type GraphQLResponse, type TestServer } from '../support/server.js';
import { uniqueSub, userIdOf } from '../support/subjects.js';
import { tokenFor } from '../support/tokens.js';

/**
 * Internal by design: estimates costs with the server's own estimator (graphql/cost.ts) on the server's own built
 * schema (graphql/schema.ts), where the fields' declared costs and list sizes live.
 *
 * The most expensive operations the limits admit, built from schema.graphql rather than by hand. For every root query
 * field, the heaviest selection (every field, every `first` at its maximum, nested through object and list fields as
 * deep as the depth limit allows, the most aliases; written with one fragment per type and depth, so that it stays
 * within the token limit) is refused for its cost before it runs. Shrunk (fewer aliases, smaller `first`, shallower)
 * to the largest operations whose estimate is within MAX_COST, one per depth, each runs against worst-case data
 * (500-character CJK descriptions, 4 KiB metadata, 255-character keys, 200-character titles, 101 rows in every list,
 * 1,000 usage buckets) and answers under MAX_RESPONSE_BYTES with at most MAX_COST objects. Also: every list field of
 * the built schema is bounded, and the original report (nested workshop chains under ten aliases, pages of 100 by
 * variable) is refused. Shapes that once slipped past the estimate are checked at the end.
 */

const SDL = buildSchema(readFileSync(path.resolve(import.meta.dirname, '../../schema.graphql'), 'utf8'));
/** The limits of graphql/limits.ts, and the largest page. */
const MAX_DEPTH = 8;
const MAX_ALIASES = 10;
const MAX_TOKENS = 1000;
const MAX_FIRST = MAX_PAGE_SIZE;

/** Rows per list in the worst-case data: one more than the largest page. */
const ROWS_PER_LIST = MAX_FIRST + 1;
const WORKSHOPS = ROWS_PER_LIST;
const LEDGER_ROWS = WORKSHOPS * ROWS_PER_LIST;
const CJK = '漢';

interface Shape {
  /** The deepest field of the operation, counted as graphql-armor counts (a root field is at depth 1). */
  depth: number;
  /**
   * Of the leaves, only those that declare a cost above one unit (long text, JSON: the most bytes per unit), or an
   * object's first leaf when it has none of them.
   */
  dense?: boolean;
  /** Every `first` argument. */
  first: number;
  aliases: number;
}

interface Heavy {
  root: GraphQLField<unknown, unknown>;
  shape: Shape;
  document: string;
  variables: Record<string, unknown>;
  /** False when the shape is too shallow for some object on the way (a connection needs depth for its edges). */
  usable: boolean;
}

const tokensOf = (document: string) => {
  const lexer = new Lexer(new Source(document));
  let count = 0;
  while (lexer.advance().kind !== TokenKind.EOF) count++;
  return count;
};

const requiredArgs = (field: GraphQLField<unknown, unknown>) => field.args.filter((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined);

/**
 * The heaviest operation of this shape on `root`: every field of every object (an object field only where its own
 * fields still fit in the depth), `first: <first>` wherever a field takes one, `aliases` copies of the root field.
 * Each (type, depth) is one fragment, so the document stays small while what it expands to grows. Nested fields
 * whose required arguments we could not fill are left out; the root field's required arguments are variables.
 */
function heaviest(
  root: GraphQLField<unknown, unknown>,
  shape: Shape,
  variables: Record<string, unknown>,
  costOf?: (type: string, field: string) => number,
): Heavy {
  const fragments = new Map<string, string>();
  const first = (field: GraphQLField<unknown, unknown>) => (field.args.some((arg) => arg.name === 'first') ? [`first: ${shape.first}`] : []);
  const fragmentFor = (type: GraphQLObjectType, depth: number): string => {
    const name = `${type.name}_${depth}`;
    if (fragments.has(name)) return name;
    fragments.set(name, '');
    const selections: string[] = [];
    for (const field of Object.values(type.getFields())) {
      if (requiredArgs(field).length > 0) continue;
      const args = first(field).length > 0 ? `(${first(field)[0]})` : '';
      const named = getNamedType(field.type);
      const weighty = (costOf?.(type.name, field.name) ?? 1) > 1;
      if (isLeafType(named) && depth + 1 <= shape.depth && (!shape.dense || weighty)) selections.push(`${field.name}${args}`);
      if (isObjectType(named) && depth + 2 <= shape.depth) {
        // A child that can select nothing at its depth (all its fields are objects) is left out.
        const child = fragmentFor(named, depth + 1);
        if (fragments.get(child) !== '') selections.push(`${field.name}${args} { ...${child} }`);
      }
    }
    const firstLeaf = Object.values(type.getFields()).find((field) => isLeafType(getNamedType(field.type)) && requiredArgs(field).length === 0);
    if (shape.dense && firstLeaf && !selections.some((selection) => !selection.includes('{'))) selections.unshift(firstLeaf.name);
    // An object whose fields are all objects needs more depth than this shape has: its fragment stays empty, and the
    // document is marked unusable.
    fragments.set(name, selections.length > 0 ? `fragment ${name} on ${type.name} { ${selections.join(' ')} }` : '');
    return name;
  };
  const required = requiredArgs(root);
  const variableDefinitions = required.map((arg) => `$${arg.name}: ${String(arg.type)}`).join(', ');
  const args = [...required.map((arg) => `${arg.name}: $${arg.name}`), ...first(root)].join(', ');
  const named = getNamedType(root.type);
  const selection = isObjectType(named) ? ` { ...${fragmentFor(named, 1)} }` : '';
  const copies = Array.from({ length: shape.aliases }, (_, i) => `a${i}: ${root.name}${args ? `(${args})` : ''}${selection}`);
  const document = `query Heaviest_${root.name}${variableDefinitions ? `(${variableDefinitions})` : ''} { ${copies.join(' ')} } ${[...fragments.values()].join(' ')}`;
  return {
    root,
    shape,
    document,
    variables: Object.fromEntries(required.map((arg) => [arg.name, variables[arg.name]])),
    usable: [...fragments.values()].every((fragment) => fragment !== ''),
  };
}

/** Objects in an answer: every JSON object under `data` (GraphQL objects and, to be strict, JSON scalars' objects too). */
function objectsIn(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + objectsIn(item), 0);
  if (value === null || typeof value !== 'object') return 0;
  return 1 + Object.values(value).reduce((sum: number, item) => sum + objectsIn(item), 0);
}

describe('the output of an admitted operation is bounded', () => {
  let server: TestServer;
  let schema: GraphQLSchema;
  /** The heavy user is also the admin, so that admin fields run on the same worst-case data. */
  const heavySub = `heavy-${CJK.repeat(249)}`;
  let heavyId: string;
  /** Values for the root fields' required arguments: by argument name, and `id` by root field. */
  const values: Record<string, unknown> = {};
  const idsByRoot: Record<string, string> = {};
  const cost = (document: string, variables?: Record<string, unknown>) => estimateCost(schema, parse(document), variables);
  const send = async (document: string, variables: Record<string, unknown> = {}, sub = heavySub) => {
    const started = performance.now();
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor(sub)}` },
      body: JSON.stringify({ query: document, variables }),
    });
    const text = await response.text();
    const json = JSON.parse(text) as GraphQLResponse<Record<string, unknown>>;
    return { ...json, status: response.status, bytes: Buffer.byteLength(text), ms: performance.now() - started };
  };

  beforeAll(async () => {
    schema = await buildTallySchema();
    server = await startTestServer({ env: { ADMIN_USER_IDS: heavySub } });
    heavyId = await userIdOf(server, heavySub);

    // Worst-case data, written in SQL with the ledger kept sound (checked below): a GRANT, then one CONSUMPTION of
    // 1 per row in posting order, balanceAfter running, the balance their sum; effective_at grows with posting_seq.
    await server.sql.query(
      `insert into workshops (id, user_id, account_id, title, status, created_at, updated_at, credit_consumed_at)
       select 'ws_h' || lpad(g::text, 4, '0'), $1, $1, repeat($2, 200), 'active', now() - g * interval '1 minute', now(), now()
       from generate_series(1, $3::int) g`,
      [heavyId, CJK, WORKSHOPS],
    );
    const key = (prefix: string) => `rpad(${prefix} || g || '-', 255, $2)`;
    await server.sql.query(
      `insert into credit_transactions (id, account_id, type, status, amount, balance_after, description, feature, idempotency_key, workshop_id, metadata)
       select 'ctx_h' || lpad(g::text, 8, '0'), $1,
              case when g = 0 then 'grant' else 'consumption' end, 'completed',
              case when g = 0 then $3::int + 1000 else -1 end, 0,
              repeat($2, 500),
              case when g = 0 then null else rpad('feature-' || (g % 4) || '-', 64, 'x') end,
              case when g = 0 then ${key(`'grant:'`)} else ${key(`'k'`)} end,
              case when g = 0 then null else 'ws_h' || lpad((1 + g % $4::int)::text, 4, '0') end,
              jsonb_build_object('note', repeat($2, 1362), 'requestId', gen_random_uuid()::text)
       from generate_series(0, $3::int) g order by g`,
      [heavyId, CJK, LEDGER_ROWS, WORKSHOPS],
    );
    await server.sql.query(
      `update credit_transactions t set balance_after = s.running, effective_at = s.at, created_at = s.at
       from (select id, sum(amount) over (order by posting_seq) as running,
                    now() - interval '400 days' + interval '400 days' * ((row_number() over (order by posting_seq)) - 1)::float8 / count(*) over () as at
             from credit_transactions where account_id = $1) s
       where t.id = s.id`,
      [heavyId],
    );
    const claim = CJK.repeat(512);
    await server.sql.query(
      `update accounts set credit_balance = (select sum(amount) from credit_transactions where account_id = $1 and status = 'completed'),
              stripe_customer_id = 'cus_' || repeat('x', 14)
       where id = $1`,
      [heavyId],
    );
    await server.sql.query(
      `update users set email = $2, first_name = $2, last_name = $2, image_url = $2, company = $2,
              onboarding_complete = true, onboarding_completed_at = now()
       where id = $1`,
      [heavyId, claim],
    );
    await server.sql.query(
      `insert into credit_packs (id, name, credits, price_cents, currency, active)
       select 'pack_h' || lpad(g::text, 3, '0'), rpad('Pack ' || g, 80, '.'), g, 100 * g, 'usd', true from generate_series(1, $1::int) g`,
      [ROWS_PER_LIST],
    );
    // A captured reservation, through the API, with the longest texts it takes.
    const reserve = await send(
      'mutation($input: ReserveCreditsInput!) { reserveCredits(input: $input) { id } }',
      { input: { amount: 1, feature: 'f'.repeat(64), idempotencyKey: CJK.repeat(255), description: CJK.repeat(500), ttlSeconds: 3600 } },
    );
    const reservationId = (reserve.data?.reserveCredits as { id: string }).id;
    const capture = await send('mutation($id: ID!) { captureReservation(id: $id, amount: 1) { status } }', { id: reservationId });
    expect(capture.errors).toBeUndefined();
    expect(await creditProblems(server, heavyId)).toEqual([]);

    const now = Date.now();
    Object.assign(values, {
      time: new Date(now).toISOString(),
      // 248 days of DAY windows touch 249 calendar days of four features (and the capture's): at most 1,000 buckets,
      // the most creditUsage answers.
      from: new Date(now - 248 * 86_400_000).toISOString(),
      to: new Date(now).toISOString(),
      window: 'DAY',
    });
    // An organization of the heavy user, and a webhook endpoint (the heavy user is the admin) with 101 deliveries of
    // events with the largest payload and the longest kept response body.
    const organization = await send('mutation { createOrganization(input: { name: "Heavy" }) { id } }');
    idsByRoot.organization = (organization.data?.createOrganization as { id: string }).id;
    const endpoint = await send('mutation { createWebhookEndpoint(input: { url: "https://hooks.example.com/heavy", eventTypes: ["*"] }) { id } }');
    values.endpointId = (endpoint.data?.createWebhookEndpoint as { id: string }).id;
    await server.sql.query(
      `insert into events (id, account_id, seq, type, payload, dispatched_at)
       select 'evt_h' || lpad(g::text, 4, '0'), $1, 1000000 + g, 'credits.consumed', jsonb_build_object('note', repeat('x', $2::int)), now()
       from generate_series(1, $3::int) g`,
      [heavyId, MAX_EVENT_PAYLOAD_BYTES - 20, ROWS_PER_LIST],
    );
    await server.sql.query(
      `insert into webhook_deliveries (id, endpoint_id, event_id, status, attempts, last_response_status, last_response_body, last_error)
       select 'msg_h' || lpad(g::text, 4, '0'), $1, 'evt_h' || lpad(g::text, 4, '0'), 'failed', 10, 500, repeat($2, $3::int), repeat($2, 500)
       from generate_series(1, $4::int) g`,
      [values.endpointId, CJK, MAX_RESPONSE_BODY_BYTES, ROWS_PER_LIST],
    );
    idsByRoot.workshop = 'ws_h0001';
    idsByRoot.reservation = reservationId;
    idsByRoot.user = heavyId;
  }, 120_000);
  afterAll(() => server?.close());

  /** Variables for a root field's required arguments: known values, else one of the type's own (an enum's first value). */
  const variablesFor = (root: GraphQLField<unknown, unknown>) =>
    Object.fromEntries(
      requiredArgs(root).map((arg) => {
        const type = getNullableType(arg.type) as GraphQLInputType;
        const value = arg.name === 'id' ? idsByRoot[root.name] : values[arg.name];
        return [arg.name, value ?? (isEnumType(type) ? type.getValues()[0]!.name : 'x')];
      }),
    );

  const ROOTS = Object.values(SDL.getQueryType()!.getFields());
  const FULL: Shape = { depth: MAX_DEPTH, first: MAX_FIRST, aliases: MAX_ALIASES };

  /** A field's declared cost, from the built schema (the SDL carries no extensions). */
  const costOf = (type: string, field: string) =>
    ((schema.getType(type) as GraphQLObjectType | undefined)?.getFields()[field]?.extensions as { cost?: number } | undefined)?.cost ?? 1;

  /**
   * For each depth, the admitted shape of `root` with the highest estimate: the largest `first` with one alias, then
   * as many aliases as fit. A leaf root has no depth to choose; an object root needs depth 2 for its own fields.
   */
  function admittedShapes(root: GraphQLField<unknown, unknown>, dense = false): { heavy: Heavy; cost: number }[] {
    const variables = variablesFor(root);
    const build = (shape: Shape) => heaviest(root, { ...shape, dense }, variables, costOf);
    const one = (depth: number, first: number) => cost(build({ depth, first, aliases: 1 }).document, variables);
    const shapes = new Map<string, { heavy: Heavy; cost: number }>();
    const shallowest = isLeafType(getNamedType(root.type)) ? MAX_DEPTH : 2;
    for (let depth = MAX_DEPTH; depth >= shallowest; depth--) {
      if (!build({ depth, first: 1, aliases: 1 }).usable || one(depth, 1) > MAX_COST) continue;
      let [low, high] = [1, MAX_FIRST];
      while (low < high) {
        const middle = Math.ceil((low + high) / 2);
        if (one(depth, middle) <= MAX_COST) low = middle;
        else high = middle - 1;
      }
      const heavy = build({ depth, first: low, aliases: Math.min(MAX_ALIASES, Math.floor(MAX_COST / one(depth, low))) });
      if (!shapes.has(heavy.document)) shapes.set(heavy.document, { heavy, cost: cost(heavy.document, heavy.variables) });
    }
    return [...shapes.values()];
  }

  interface Run {
    root: string;
    shape: Shape;
    cost: number;
    status: number;
    codes: unknown[];
    bytes: number;
    /** What the backstop measured, when it answered RESPONSE_TOO_LARGE instead. */
    measured?: number;
    objects: number;
    ms: number;
  }
  const run = async ({ heavy, cost: estimate }: { heavy: Heavy; cost: number }): Promise<Run> => {
    const res = await send(heavy.document, heavy.variables);
    const measured = res.errors?.[0]?.extensions?.bytes;
    return {
      root: heavy.root.name,
      shape: heavy.shape,
      cost: estimate,
      status: res.status,
      codes: codesOf(res),
      bytes: res.bytes,
      ...(typeof measured === 'number' ? { measured } : {}),
      objects: objectsIn(res.data),
      ms: Math.round(res.ms),
    };
  };
  const describeRun = (r: Run) =>
    `${r.root.padEnd(16)} depth ${r.shape.depth}, first ${String(r.shape.first).padStart(3)}, ${String(r.shape.aliases).padStart(2)} aliases: ` +
    `cost ${String(r.cost).padStart(5)}, ${String(r.bytes).padStart(7)} bytes (${(r.bytes / r.cost).toFixed(1)} a unit), ${String(r.objects).padStart(5)} objects, ${r.ms} ms` +
    (r.codes.length > 0 ? `, ${r.codes.join(', ')}` : '') +
    (r.measured ? ` (the answer would have been ${r.measured} bytes)` : '');

  it('every list field takes `first`, declares a listSize, or is a connection\'s edges', () => {
    const unbounded: string[] = [];
    let lists = 0;
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      for (const field of Object.values(type.getFields())) {
        if (!isListType(getNullableType(field.type))) continue;
        lists++;
        const { listSize } = field.extensions as { listSize?: number };
        const bounded =
          field.args.some((arg) => arg.name === 'first') ||
          (typeof listSize === 'number' && listSize > 0 && listSize <= 1000) ||
          (field.name === 'edges' && type.name.endsWith('Connection'));
        if (!bounded) unbounded.push(`${type.name}.${field.name}`);
        // A list inside a list would multiply past what `first` or listSize says.
        const list = getNullableType(field.type) as GraphQLList<GraphQLOutputType>;
        if (isListType(getNullableType(list.ofType))) unbounded.push(`${type.name}.${field.name} (a list of lists)`);
      }
    }
    expect(lists).toBeGreaterThan(5);
    expect(unbounded).toEqual([]);
  });

  it('at full size (every field, first 100, depth 8, 10 aliases) a root field over MAX_COST is refused for its cost, or for its length', async () => {
    const refused: string[] = [];
    const lines: string[] = [];
    for (const root of ROOTS) {
      const heavy = heaviest(root, FULL, variablesFor(root));
      if (tokensOf(heavy.document) > MAX_TOKENS) {
        // Too long to parse: the token limit refuses it before any cost is estimated (a wide type such as User has
        // more fields at depth 8 than 1,000 tokens can name).
        lines.push(`  ${root.name.padEnd(16)} ${String(tokensOf(heavy.document)).padStart(3)} tokens: over the token limit`);
        refused.push(root.name);
        const res = await send(heavy.document, heavy.variables);
        expect({ root: root.name, status: res.status, codes: codesOf(res) }).toEqual({ root: root.name, status: 400, codes: ['GRAPHQL_PARSE_FAILED'] });
        expect(res.errors?.[0]?.message).toMatch(/tokens/i);
        expect(res.data ?? null).toBeNull();
        continue;
      }
      const estimate = cost(heavy.document, heavy.variables);
      lines.push(`  ${root.name.padEnd(16)} ${String(tokensOf(heavy.document)).padStart(3)} tokens, cost ${estimate.toLocaleString('en-US')}`);
      if (estimate <= MAX_COST) continue;
      refused.push(root.name);
      const res = await send(heavy.document, heavy.variables);
      expect({ root: root.name, status: res.status, codes: codesOf(res) }).toEqual({ root: root.name, status: 400, codes: ['GRAPHQL_VALIDATION_FAILED'] });
      expect(res.errors?.[0]?.message).toMatch(/cost/i);
      // The server's estimate is this one: same estimator, same schema, same variables.
      expect(res.errors?.[0]?.extensions).toMatchObject({ cost: estimate, maxCost: MAX_COST });
      expect(res.data ?? null).toBeNull();
    }
    console.log(`at full size (depth ${MAX_DEPTH}, first ${MAX_FIRST}, ${MAX_ALIASES} aliases), refused when over ${MAX_COST}:\n${lines.join('\n')}`);
    // Every root field that reaches a list of objects is among them.
    expect(refused).toEqual(expect.arrayContaining(['creditHistory', 'creditUsage', 'me', 'reservation', 'user', 'workshop', 'workshops']));
  });

  it('shrunk to the largest admitted operations, every root field answers on worst-case data under 1 MiB with at most MAX_COST objects', async () => {
    const runs: Run[] = [];
    for (const root of ROOTS) {
      const shapes = admittedShapes(root);
      expect({ root: root.name, admitted: shapes.length > 0 }).toEqual({ root: root.name, admitted: true });
      for (const shape of shapes) {
        expect(shape.cost).toBeLessThanOrEqual(MAX_COST);
        const r = await run(shape);
        runs.push(r);
        expect({ shape: describeRun(r), status: r.status, codes: r.codes }).toEqual({ shape: describeRun(r), status: 200, codes: [] });
        expect(r.bytes).toBeLessThan(MAX_RESPONSE_BYTES);
        expect(r.objects).toBeLessThanOrEqual(MAX_COST);
      }
    }
    const top = (by: (r: Run) => number) => runs.reduce((a, b) => (by(b) > by(a) ? b : a));
    const perRoot = ROOTS.map((root) => runs.filter((r) => r.root === root.name).reduce((a, b) => (b.cost > a.cost ? b : a)));
    console.log(
      [
        `largest admitted operation per root field (of ${runs.length} run; MAX_COST ${MAX_COST}, MAX_RESPONSE_BYTES ${MAX_RESPONSE_BYTES}):`,
        ...perRoot.map((r) => `  ${describeRun(r)}`),
        `heaviest admitted operation: ${describeRun(top((r) => r.cost))}`,
        `largest answer:              ${describeRun(top((r) => r.bytes))}`,
        `most objects:                ${describeRun(top((r) => r.objects))}`,
      ].join('\n'),
    );
  });

  describe('the original report', () => {
    const chain = (leaf: string) => `workshop(id: $id) { creditTransactions { workshop { creditTransactions { workshop { creditTransactions { ${leaf} } } } } } }`;
    let sub: string;
    let workshopId: string;
    beforeAll(async () => {
      sub = uniqueSub('report');
      await userIdOf(server, sub);
      const created = await send('mutation { createWorkshop(input: { title: "one workshop" }) { id } }', {}, sub);
      workshopId = (created.data?.createWorkshop as { id: string }).id;
      await server.sql.query(
        `insert into credit_transactions (id, account_id, type, status, amount, balance_after, description, workshop_id, effective_at)
         select 'ctx_r' || lpad(g::text, 8, '0'), u.id, case when g = 0 then 'grant' else 'consumption' end, 'completed',
                case when g = 0 then 100 else -1 end, case when g = 0 then 100 else 100 - g end, 'row ' || g, w.id, now()
         from generate_series(0, 40) g, users u, workshops w where u.clerk_user_id = $1 and w.id = $2 order by g`,
        [sub, workshopId],
      );
      await server.sql.query(`update accounts set credit_balance = 60 where id = (select id from users where clerk_user_id = $1)`, [sub]);
      expect(await creditProblems(server, await userIdOf(server, sub))).toEqual([]);
    });

    it('ten aliases of workshop(id) { creditTransactions { workshop { creditTransactions { workshop { creditTransactions { id } } } } } } are refused for their cost', async () => {
      const document = `query Report($id: ID!) { ${Array.from({ length: 10 }, (_, i) => `w${i}: ${chain('id')}`).join(' ')} }`;
      const res = await send(document, { id: workshopId }, sub);
      const estimate = cost(document, { id: workshopId });
      expect(estimate).toBeGreaterThan(MAX_COST);
      expect(res.status).toBe(400);
      expect(codesOf(res)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      expect(res.errors?.[0]?.extensions).toMatchObject({ cost: estimate });
      // One copy is admitted, and small: 20 x 20 x 20 rows of ids.
      const one = await send(`query One($id: ID!) { ${chain('id')} }`, { id: workshopId }, sub);
      expect(one.errors).toBeUndefined();
      expect(one.bytes).toBeLessThan(MAX_RESPONSE_BYTES);
      expect(objectsIn(one.data)).toBeLessThanOrEqual(cost(`query One($id: ID!) { ${chain('id')} }`, { id: workshopId }));
    });

    it('creditHistory(first: $n) ten times over with n = 100 as a variable is refused exactly as with a literal 100', async () => {
      const page = (first: string) =>
        `creditHistory(first: ${first}) { edges { cursor node { id type status amount balanceAfter description feature idempotencyKey metadata effectiveAt createdAt } } }`;
      const literal = `{ ${Array.from({ length: 10 }, (_, i) => `h${i}: ${page('100')}`).join(' ')} }`;
      const variable = `query Pages($n: Int) { ${Array.from({ length: 10 }, (_, i) => `h${i}: ${page('$n')}`).join(' ')} }`;
      const byLiteral = await send(literal, {}, sub);
      const byVariable = await send(variable, { n: 100 }, sub);
      for (const res of [byLiteral, byVariable]) {
        expect(res.status).toBe(400);
        expect(codesOf(res)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
        expect(res.errors?.[0]?.message).toMatch(/cost/i);
      }
      expect(byVariable.errors?.[0]?.extensions?.cost).toBe(byLiteral.errors?.[0]?.extensions?.cost);
      expect(byLiteral.errors?.[0]?.extensions?.cost).toBe(cost(literal));
    });
  });

  /**
   * Shapes that once slipped past the estimate (graphql/cost.ts, graphql/limits.ts): lists of objects selecting only
   * __typename, long aliases repeated in every row, aliases of __typename, and answers of long-text fields only.
   * Each is refused for its cost (or its aliases), or its answer stays within MAX_RESPONSE_BYTES and MAX_COST objects
   * without the RESPONSE_TOO_LARGE backstop.
   */
  describe('shapes that used to slip past the estimate', () => {
    const refusedOrBounded = (res: Awaited<ReturnType<typeof send>>) => {
      if (res.status === 400) {
        expect(codesOf(res)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
        return;
      }
      expect({ codes: codesOf(res), bytes: res.bytes < MAX_RESPONSE_BYTES, objects: objectsIn(res.data) <= MAX_COST }).toEqual({
        codes: [],
        bytes: true,
        objects: true,
      });
    };

    it('a list whose items select only __typename costs a unit per item (40,800 objects are refused)', async () => {
      const chain = 'workshop(id: $id) { creditTransactions(first: 100) { workshop { creditTransactions(first: 100) { __typename } } } }';
      const document = `query Typenames($id: ID!) { ${Array.from({ length: 4 }, (_, i) => `w${i}: ${chain}`).join(' ')} }`;
      expect(cost(document, { id: idsByRoot.workshop })).toBeGreaterThan(MAX_COST);
      refusedOrBounded(await send(document, { id: idsByRoot.workshop }));
    });

    it('an alias longer than 64 characters is refused (it would be repeated in every row of a list)', async () => {
      const document = `{ creditHistory(first: 100) { edges { node { ${'a'.repeat(12_000)}: id } } } }`;
      const res = await send(document);
      expect(res.status).toBe(400);
      expect(codesOf(res)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
      refusedOrBounded(res);
    });

    it('aliases of __typename count against the alias limit and cost a unit each', async () => {
      const aliases = Array.from({ length: 40 }, (_, i) => `t${i}: __typename`).join(' ');
      const document = `query Aliases($id: ID!) { workshop(id: $id) { creditTransactions(first: 100) { ${aliases} } } }`;
      expect(cost(document, { id: idsByRoot.workshop })).toBeGreaterThan(4000);
      const res = await send(document, { id: idsByRoot.workshop });
      expect(res.status).toBe(400);
      refusedOrBounded(res);
    });

    it('selecting only the long-text and JSON fields (about 96 bytes a unit) stays under 1 MiB at MAX_COST units', async () => {
      const runs: Run[] = [];
      for (const root of ROOTS) for (const shape of admittedShapes(root, true)) runs.push(await run(shape));
      const tooLarge = runs.filter((r) => r.codes.includes('RESPONSE_TOO_LARGE') || r.bytes >= MAX_RESPONSE_BYTES).map(describeRun);
      expect(tooLarge).toEqual([]);
    });
  });
});
