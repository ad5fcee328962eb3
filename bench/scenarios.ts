import type { HttpScenario } from './http-load.js';

const CONSUME = 'mutation Consume($input: ConsumeCreditsInput!) { consumeCredits(input: $input) { id balanceAfter } }';
const BALANCE = 'query Balance { creditBalance }';
export const HISTORY_PAGE = 50;
const HISTORY = `query History { creditHistory(first: ${HISTORY_PAGE}) {
  edges { cursor node { id type amount balanceAfter createdAt workshop { id title } } }
  pageInfo { hasNextPage endCursor } } }`;
export const CONSUME_FEATURE = 'bench';

export interface ScenarioTokens {
  /** One token per seeded user, in seeding order. */
  spread: string[];
  /** The organizations' members (the first users), with the wallet each spends from. */
  members: { token: string; organizationId: string }[];
  hot: string;
  history: string;
  admin: string;
}

/** The idempotency keys of one run: unique per request, across scenarios and runs. */
export function keySequence(runId: string, label: string) {
  let n = 0;
  return () => `bench-${runId}-${label}-${++n}`;
}

const rotation = <T>(items: T[]) => {
  let i = 0;
  return () => items[i++ % items.length]!;
};

const consumeBody = (idempotencyKey: string, organizationId?: string) =>
  JSON.stringify({ query: CONSUME, variables: { input: { amount: 1, feature: CONSUME_FEATURE, idempotencyKey, ...(organizationId ? { organizationId } : {}) } } });

/** The HTTP scenarios, cheapest first: the framework floor, the two consumption shapes, then the two reads. */
export function httpScenarios(runId: string, tokens: ScenarioTokens): HttpScenario[] {
  const spreadToken = rotation(tokens.spread);
  const spreadKey = keySequence(runId, 'spread');
  const webhookKey = keySequence(runId, 'webhook');
  const pairKey = keySequence(runId, 'pair');
  const spreadCeilings = ['pgbench-consume-1stmt', 'pgbench-consume-2stmt', 'sql-consume-spread'];
  const hotKey = keySequence(runId, 'hot');
  const member = rotation(tokens.members);
  const orgKey = keySequence(runId, 'org');
  const balanceToken = rotation(tokens.spread);
  const typename = JSON.stringify({ query: '{ __typename }' });
  const balance = JSON.stringify({ query: BALANCE });
  const history = JSON.stringify({ query: HISTORY });
  return [
    {
      name: 'typename',
      summary: 'anonymous `{ __typename }`: Express + Apollo with no auth and no database (the framework floor)',
      nextRequest: () => ({ body: typename }),
    },
    {
      name: 'consume-spread',
      summary: 'consumeCredits, each request another user and a new idempotency key',
      ceilings: spreadCeilings,
      nextRequest: () => ({ token: spreadToken(), body: consumeBody(spreadKey()) }),
    },
    {
      name: 'consume-spread-webhook',
      summary: 'consume-spread while a webhook endpoint (HTTPS on 127.0.0.1, verifying signatures) is subscribed to credits.consumed',
      ceilings: spreadCeilings,
      via: 'webhook',
      nextRequest: () => ({ token: spreadToken(), body: consumeBody(webhookKey()) }),
    },
    {
      name: 'consume-spread-2x-pgbouncer',
      summary: 'consume-spread over two API processes behind PgBouncer (transaction pooling, DATABASE_PREPARED_STATEMENTS=false), connections dealt out between them',
      ceilings: spreadCeilings,
      via: 'pgbouncer-pair',
      nextRequest: () => ({ token: spreadToken(), body: consumeBody(pairKey()) }),
    },
    {
      name: 'consume-hot',
      summary: 'consumeCredits, every request the same user (one hot balance row), a new key each time',
      ceilings: ['sql-consume-hot'],
      nextRequest: () => ({ token: tokens.hot, body: consumeBody(hotKey()) }),
    },
    {
      name: 'consume-org',
      summary: "consumeCredits from an organization's wallet: many members of a few organizations, each under a monthly limit",
      ceilings: ['sql-consume-org'],
      nextRequest: () => {
        const next = member();
        return { token: next.token, body: consumeBody(orgKey(), next.organizationId) };
      },
    },
    {
      name: 'balance',
      summary: 'creditBalance, rotating over all users',
      nextRequest: () => ({ token: balanceToken(), body: balance }),
    },
    {
      name: 'history',
      summary: `creditHistory(first: ${HISTORY_PAGE}) with each row's workshop { id title }`,
      nextRequest: () => ({ token: tokens.history, body: history }),
    },
  ];
}

/** consume-spread sent to another build's API (BENCH_BASELINE): the same requests, keys of its own. */
export function baselineScenario(runId: string, spread: string[]): HttpScenario {
  const token = rotation(spread);
  const key = keySequence(runId, 'baseline');
  return {
    name: 'consume-spread-baseline',
    summary: 'consume-spread on the BENCH_BASELINE build, a second API on the same database, in the same rounds',
    nextRequest: () => ({ token: token(), body: consumeBody(key()) }),
  };
}
