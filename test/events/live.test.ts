import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, type Client, type FormattedExecutionResult as ExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';
import { AddOrganizationMemberDocument, CreateOrganizationDocument, GrantCreditsDocument, SpendCreditsDocument } from '../generated/graphql.js';
import { key } from '../support/credits.js';
import { waitUntil } from '../support/processes.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { ADMIN_SUB, uniqueSub, userIdOf } from '../support/subjects.js';
import { tokenFor } from '../support/tokens.js';

/**
 * The live balance: creditBalanceChanged over WebSocket (graphql-ws), fed by the outbox through LISTEN/NOTIFY, so a
 * client of one instance sees changes made through another. Two servers share one database here.
 */
describe('creditBalanceChanged', () => {
  let a: TestServer;
  let b: TestServer;
  const clients: Client[] = [];
  const env = { ADMIN_USER_IDS: ADMIN_SUB, WEBHOOK_WORKER_INTERVAL_MS: '50', LIVE_MAX_CONNECTIONS_PER_USER: '2' };

  beforeAll(async () => {
    a = await startTestServer({ env });
    b = await startTestServer({ env, databaseUrl: a.databaseUrl });
  });
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.dispose()));
    await b?.close();
    await a?.close();
  });

  /** A graphql-ws client of `server` (closes are recorded), signed in as `sub` (or with `authorization` as given). */
  function connect(server: TestServer, authorization: () => Promise<string | undefined>) {
    const closes: number[] = [];
    const client = createClient({
      url: server.url.replace('http', 'ws') + '/graphql',
      webSocketImpl: WebSocket,
      connectionParams: async () => {
        const value = await authorization();
        return value === undefined ? {} : { authorization: value };
      },
      retryAttempts: 0,
      lazy: false,
      on: { closed: (event) => closes.push((event as { code: number }).code) },
    });
    clients.push(client);
    return { client, closes };
  }
  const as = (sub: string) => async () => `Bearer ${await tokenFor(sub)}`;

  /** Subscribes and collects every result until stopped. */
  function watch(client: Client, organizationId?: string) {
    const results: ExecutionResult<Record<string, unknown>, unknown>[] = [];
    let completed = false;
    const stop = client.subscribe<Record<string, unknown>>(
      {
        query: `subscription ($org: ID) { creditBalanceChanged(organizationId: $org) { accountId creditBalance spendableCredits eventType sequence transaction { id type amount balanceAfter } } }`,
        variables: { org: organizationId ?? null },
      },
      {
        next: (result) => results.push(result),
        error: (error) => results.push({ errors: [{ message: String((error as Error).message ?? error) }] } as never),
        complete: () => {
          completed = true;
        },
      },
    );
    return { results, stop, completed: () => completed };
  }
  const updates = (results: ExecutionResult<Record<string, unknown>, unknown>[]) =>
    results.filter((result) => result.data).map((result) => result.data!.creditBalanceChanged as Record<string, unknown>);

  it('a client of instance A sees a consumption made through instance B', async () => {
    const sub = uniqueSub('live_user');
    const id = await userIdOf(a, sub);
    const { client } = connect(a, as(sub));
    const watching = watch(client);
    // The subscription is in place once the server has it: give the grant time to follow it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await b.as(ADMIN_SUB).execute(GrantCreditsDocument, { input: { userId: id, amount: 10, reason: 'Live', idempotencyKey: key('g') } });
    const spent = (await b.as(sub).execute(SpendCreditsDocument, { input: { amount: 3, feature: 'chat', idempotencyKey: key('s') } })).data!.consumeCredits;
    await waitUntil(async () => updates(watching.results).length >= 2, { timeoutMs: 10_000, what: 'live updates' });
    expect(updates(watching.results)).toEqual([
      expect.objectContaining({ accountId: id, creditBalance: 10, spendableCredits: 10, eventType: 'credits.granted', transaction: expect.objectContaining({ type: 'GRANT', amount: 10 }) }),
      expect.objectContaining({ creditBalance: 7, spendableCredits: 7, eventType: 'credits.consumed', transaction: { id: spent.id, type: 'CONSUMPTION', amount: -3, balanceAfter: 7 } }),
    ]);
    watching.stop();
  });

  it("an organization's members watch its wallet; a stranger is told NOT_FOUND", async () => {
    const owner = uniqueSub('live_owner');
    const member = uniqueSub('live_member');
    const org = (await a.as(owner).execute(CreateOrganizationDocument, { input: { name: 'Live team' } })).data!.createOrganization;
    await a.as(owner).execute(AddOrganizationMemberDocument, { input: { organizationId: org.id, userId: await userIdOf(a, member), role: 'MEMBER' } });
    const watching = watch(connect(a, as(member)).client, org.id);
    const stranger = watch(connect(b, as(uniqueSub('live_stranger'))).client, org.id);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await b.as(ADMIN_SUB).execute(GrantCreditsDocument, { input: { organizationId: org.id, amount: 25, reason: 'Live team', idempotencyKey: key('g') } });
    await waitUntil(async () => updates(watching.results).length >= 1 && stranger.results.length >= 1, { timeoutMs: 10_000, what: 'live updates' });
    expect(updates(watching.results)[0]).toMatchObject({ accountId: org.id, creditBalance: 25 });
    expect(JSON.stringify(stranger.results[0])).toContain('NOT_FOUND');
    expect(updates(stranger.results)).toEqual([]);
  });

  it('closes a socket with a bad or missing token with 4403, and a user’s third socket with 4429', async () => {
    const bad = connect(a, async () => 'Bearer not-a-token');
    const none = connect(a, async () => undefined);
    await waitUntil(async () => bad.closes.length > 0 && none.closes.length > 0, { timeoutMs: 5_000, what: 'live updates' });
    expect(bad.closes[0]).toBe(4403);
    expect(none.closes[0]).toBe(4403);

    const sub = uniqueSub('live_many');
    const first = connect(a, as(sub));
    const second = connect(a, as(sub));
    const w1 = watch(first.client);
    const w2 = watch(second.client);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const third = connect(a, as(sub));
    watch(third.client);
    await waitUntil(async () => third.closes.length > 0, { timeoutMs: 5_000, what: 'live updates' });
    expect(third.closes[0]).toBe(4429);
    expect(first.closes).toEqual([]);
    w1.stop();
    w2.stop();
  });

  it('serves subscriptions only: a query over the socket is refused', async () => {
    const sub = uniqueSub('live_query');
    const { client } = connect(a, as(sub));
    const results: unknown[] = [];
    await new Promise<void>((resolve) => {
      client.subscribe({ query: '{ me { id } }' }, { next: (r) => results.push(r), error: (e) => (results.push(e), resolve()), complete: resolve });
    });
    expect(JSON.stringify(results)).toContain('Only subscriptions are served over WebSocket');
  });
});
