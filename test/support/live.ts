import { createClient, type Client, type FormattedExecutionResult as ExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';
import { tokenFor } from './tokens.js';

/** Live balance clients: graphql-ws over WebSocket to a server's /graphql, as a browser would hold one. */

export type LiveResult = ExecutionResult<Record<string, unknown>, unknown>;

export interface LiveConnection {
  client: Client;
  /** Close codes the server sent, in order. */
  closes: number[];
}

/** A graphql-ws client of the server at `url` (http://...), signed in with what `authorization` gives (none: undefined). */
export function connectLive(url: string, authorization: () => Promise<string | undefined>): LiveConnection {
  const closes: number[] = [];
  const client = createClient({
    url: url.replace('http', 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    connectionParams: async () => {
      const value = await authorization();
      return value === undefined ? {} : { authorization: value };
    },
    retryAttempts: 0,
    lazy: false,
    on: { closed: (event) => closes.push((event as { code: number }).code) },
  });
  return { client, closes };
}

/** The Authorization header value of `sub`, for connectLive. */
export const bearer = (sub: string) => async () => `Bearer ${await tokenFor(sub)}`;

/** Subscribes to creditBalanceChanged (the viewer's account, or an organization's) and collects every result until stopped. */
export function watchBalance(client: Client, organizationId?: string) {
  const results: LiveResult[] = [];
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

/** The updates among `results` (errors left out). */
export const liveUpdates = (results: LiveResult[]) =>
  results.filter((result) => result.data).map((result) => result.data!.creditBalanceChanged as Record<string, unknown>);
