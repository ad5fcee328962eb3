import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { prefixedId } from '../../src/core/ids.js';
import { namedStatement } from '../../src/database/named-statement.js';
import { appendEvent, EVENT_SEQ_BUMP, insertEventFrom } from '../../src/events/outbox.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { uniqueSub, userIdOf } from '../support/subjects.js';

/**
 * The outbox's statements (internal by design: they are called directly, as the code that changes balances calls
 * them): numbering under concurrency, and an event appended by a statement that also changes the account.
 */
describe('the outbox', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it('numbers concurrent transactions of one account 1..n, each number once', async () => {
    const accountId = await userIdOf(server, uniqueSub('concurrent'));
    const appended = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        server.orm.em.fork().transactional(async (tx) => {
          const event = await appendEvent(tx, { accountId, type: 'credits.consumed', payload: { i } });
          // Holding the account's row a moment makes the others queue behind it.
          await tx.execute('select pg_sleep(0.01)');
          return event;
        }),
      ),
    );
    expect(appended.map((event) => Number(event.seq)).sort((a, b) => a - b)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    const { rows } = await server.sql.query('select event_seq from accounts where id = $1', [accountId]);
    expect(rows[0].event_seq).toBe('16');
  });

  it('appends an event inside a statement that updates the account, its payload built from that statement', async () => {
    const accountId = await userIdOf(server, uniqueSub('composed'));
    await appendEvent(server.orm.em.fork(), { accountId, type: 'credits.granted', payload: {} });
    const posting = namedStatement<{ accountId: string; eventId: string; eventType: string }>(`
with numbered as (
  update accounts set updated_at = now(), ${EVENT_SEQ_BUMP} where id = :accountId
  returning id, event_seq, credit_balance
), posted as (
  select 'ctx_example' as transaction_id
)${insertEventFrom('numbered', {
      from: 'numbered, posted',
      payload: `jsonb_build_object('transaction', jsonb_build_object('id', posted.transaction_id), 'balanceAfter', numbered.credit_balance)`,
    })}`);
    const eventId = prefixedId('evt');
    const [row] = await server.orm.em.fork().execute(posting.text, posting.bind({ accountId, eventId, eventType: 'credits.consumed' }));
    expect(row).toEqual({ id: eventId, seq: '2' });
    const { rows } = await server.sql.query('select account_id, seq, type, payload, dispatched_at from events where id = $1', [eventId]);
    expect(rows).toEqual([
      { account_id: accountId, seq: '2', type: 'credits.consumed', payload: { transaction: { id: 'ctx_example' }, balanceAfter: 0 }, dispatched_at: null },
    ]);
  });
});
