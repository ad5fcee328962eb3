import type { GraphQLResponse, TestServer } from '../support/server.js';

export const codesOf = (res: GraphQLResponse<unknown>) => (res.errors ?? []).map((error) => error.extensions?.code);

export async function ledgerRowCount(server: TestServer): Promise<number> {
  const { rows } = await server.sql.query<{ n: number }>('select count(*)::int as n from credit_transactions');
  return rows[0]!.n;
}

export async function balanceOf(server: TestServer, subject: string): Promise<number> {
  const { rows } = await server.sql.query<{ credit_balance: number }>('select credit_balance from users where clerk_user_id = $1', [subject]);
  return rows[0]!.credit_balance;
}

/** A request as a browser or curl could send it, with nothing added by the test client. */
export async function send(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}
