import type { EntityManager } from '@mikro-orm/postgresql';
import { badUserInput } from '../core/errors.js';
import { isPrefixedId, type IdPrefix } from '../core/ids.js';
import { decodeCursor, encodeCursor, pageSize, slicePage, timestampPosition } from '../core/pagination.js';
import type { Row } from '../database/rows.js';
import { toExpiringGrant, type ExpiringGrantConnection } from './credit-grant.model.js';
import type { ReservationStatus } from './reservation-status.js';
import { toReservation, type ReservationConnection } from './reservation.model.js';

/** What an operator (or the account's holder) reads of an account besides its ledger: its holds and expiring grants. */

interface PageArgs {
  first: number | null;
  after?: string | null;
}

/** A keyset position of (timestamp, id), checked to be one this list handed out. */
function position(kind: string, after: string | null | undefined, prefix: IdPrefix): [string | null, string | null] {
  const [at, id] = decodeCursor(kind, after, 2) ?? [];
  if (at === undefined || id === undefined) return [null, null];
  if (!isPrefixedId(prefix, id)) throw badUserInput('after', 'is not a cursor from this list');
  return [timestampPosition(at), id];
}

const HOLDS_CURSOR = 'rsv';

/** An account's reservations, newest first, optionally of one status. */
export async function reservationsPage(em: EntityManager, accountId: string, args: PageArgs & { status?: ReservationStatus | null }): Promise<ReservationConnection> {
  const size = pageSize(args.first);
  const [at, id] = position(HOLDS_CURSOR, args.after, 'rsv');
  const rows = await em.execute<Row[]>(
    `select r.*, r.created_at::text as position_at from reservations r
     where r.account_id = ? and (?::text is null or r.status = ?)
       and (?::timestamptz is null or (r.created_at, r.id) < (?::timestamptz, ?::text))
     order by r.created_at desc, r.id desc limit ?`,
    [accountId, args.status ?? null, args.status ?? null, at, at, id, size + 1],
  );
  const { items, hasNextPage } = slicePage(rows, size);
  const edges = items.map((row) => ({ node: toReservation(row), cursor: encodeCursor(HOLDS_CURSOR, [String(row.position_at), String(row.id)]) }));
  return { edges, pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
}

const GRANTS_CURSOR = 'grant';

/** An account's grants with credits left that will expire, soonest first. */
export async function expiringGrantsPage(em: EntityManager, accountId: string, args: PageArgs): Promise<ExpiringGrantConnection> {
  const size = pageSize(args.first);
  const [at, id] = position(GRANTS_CURSOR, args.after, 'ctx');
  const rows = await em.execute<Row[]>(
    `select g.transaction_id, g.amount, g.remaining, g.expires_at, g.created_at, g.expires_at::text as position_at, t.description
     from credit_grants g join credit_transactions t on t.id = g.transaction_id
     where g.account_id = ? and g.remaining > 0
       and (?::timestamptz is null or (g.expires_at, g.transaction_id) > (?::timestamptz, ?::text))
     order by g.expires_at, g.transaction_id limit ?`,
    [accountId, at, at, id, size + 1],
  );
  const { items, hasNextPage } = slicePage(rows, size);
  const edges = items.map((row) => ({
    node: toExpiringGrant(row),
    cursor: encodeCursor(GRANTS_CURSOR, [String(row.position_at), String(row.transaction_id)]),
  }));
  return { edges, pageInfo: { hasNextPage, endCursor: edges.at(-1)?.cursor ?? null } };
}
