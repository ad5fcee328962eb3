import http from 'node:http';
import type pg from 'pg';
import { tokenFor } from './tokens.js';

/** A client that goes away mid-request, and what the database shows of the statement it left behind. */

/** Takes a user's row lock in a transaction of the test's own, as a long request or a stuck job would. */
export async function lockUserRow(sql: pg.Pool, userId: string) {
  const client = await sql.connect();
  await client.query('begin');
  await client.query('select id from users where id = $1 for update', [userId]);
  return {
    async release() {
      await client.query('commit');
      client.release();
    },
  };
}

/** Statements of the database waiting on a lock, by their text. */
export async function waitingStatements(sql: pg.Pool, like: string): Promise<number> {
  const { rows } = await sql.query<{ n: number }>(
    `select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like $1`,
    [like],
  );
  return rows[0]!.n;
}

/** Sends a GraphQL `query` to `url` as `sub` and returns a function that hangs up. */
export async function sendAndHangUpLater(url: string, sub: string, query: string, variables: Record<string, unknown>) {
  const body = JSON.stringify({ query, variables });
  const request = http.request(`${url}/graphql`, {
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${await tokenFor(sub)}` },
  });
  request.on('error', () => undefined);
  request.end(body);
  return () => request.destroy();
}
