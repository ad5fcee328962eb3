import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MeDocument, MyWorkshopsDocument, WorkshopsDocument } from '../generated/graphql.js';
import { startTestServer, type TestServer } from '../support/server.js';

describe('workshop pages', () => {
  let server: TestServer;
  let ownerId: string;
  beforeAll(async () => {
    server = await startTestServer();
    const me = await server.as('user_pages').execute(MeDocument);
    ownerId = me.data!.me.id;
    // 25 workshops, several sharing a created_at, so the keyset must break ties by id.
    await server.sql.query(
      `insert into workshops (id, user_id, account_id, title, created_at, updated_at)
       select 'ws_page' || lpad(n::text, 3, '0'), $1, $1, 'Workshop ' || n,
              timestamptz '2026-11-01 00:00:00+00' + ((n / 3) || ' minutes')::interval, now()
       from generate_series(1, 25) n`,
      [ownerId],
    );
    await server.sql.query(`update workshops set deleted_at = now() where id = 'ws_page013'`);
  });
  afterAll(() => server.close());

  const walk = async (fetchPage: (after: string | null) => Promise<{ ids: string[]; hasNextPage: boolean; endCursor: string | null }>) => {
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const result = await fetchPage(after);
      seen.push(...result.ids);
      if (!result.hasNextPage) return seen;
      after = result.endCursor;
    }
    throw new Error('pagination did not end');
  };

  const expected = Array.from({ length: 25 }, (_, i) => i + 1)
    .filter((n) => n !== 13)
    .map((n) => ({ n, id: `ws_page${String(n).padStart(3, '0')}`, minute: Math.floor(n / 3) }))
    .sort((a, b) => b.minute - a.minute || (a.id < b.id ? 1 : -1))
    .map((w) => w.id);

  it('Query.workshops pages newest first without gaps, duplicates or deleted workshops', async () => {
    const ids = await walk(async (after) => {
      const res = await server.as('user_pages').execute(WorkshopsDocument, { first: 7, after });
      expect(res.errors).toBeUndefined();
      const page = res.data!.workshops;
      return { ids: page.edges.map((e) => e.node.id), ...page.pageInfo };
    });
    expect(ids).toEqual(expected);
  });

  it('User.workshops (batched) pages the same way', async () => {
    const ids = await walk(async (after) => {
      const res = await server.as('user_pages').execute(MyWorkshopsDocument, { first: 4, after });
      expect(res.errors).toBeUndefined();
      const page = res.data!.me.workshops;
      return { ids: page.edges.map((e) => e.node.id), ...page.pageInfo };
    });
    expect(ids).toEqual(expected);
  });

  it('keeps microsecond order across pages (rows a JS Date would see as simultaneous)', async () => {
    const me = await server.as('user_micro').execute(MeDocument);
    await server.sql.query(
      `insert into workshops (id, user_id, account_id, title, created_at, updated_at)
       select 'ws_micro' || n, $1, $1, 'Micro ' || n, timestamptz '2026-11-02 10:00:00.123000+00' + (n || ' microseconds')::interval, now()
       from generate_series(1, 5) n`,
      [me.data!.me.id],
    );
    const ids = await walk(async (after) => {
      const page = (await server.as('user_micro').execute(WorkshopsDocument, { first: 1, after })).data!.workshops;
      return { ids: page.edges.map((e) => e.node.id), ...page.pageInfo };
    });
    expect(ids).toEqual(['ws_micro5', 'ws_micro4', 'ws_micro3', 'ws_micro2', 'ws_micro1']);
  });

  it('answers a cursor that does not decode with BAD_USER_INPUT naming after', async () => {
    const res = await server.as('user_pages').execute(MyWorkshopsDocument, { first: 4, after: 'not-a-cursor' });
    expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
  });
});
