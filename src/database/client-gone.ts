import net from 'node:net';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Pool, PoolClient, QueryConfig } from 'pg';
import { ClientGoneError, currentRequestScope } from '../request-scope.js';

/** The signal of the request being served, if it has one (statements from jobs and start-up have none). */
export const requestSignal = (): AbortSignal | undefined => currentRequestScope()?.signal;

export function throwIfClientGone(signal = requestSignal()) {
  if (signal?.aborted) throw new ClientGoneError();
}

/**
 * A request whose client has gone away runs no more statements: every statement the ORM sends first checks the
 * request's signal, and one already running outside a transaction is cancelled on the server (the ORM's driver sends
 * pg_cancel_backend; behind a transaction pooler that names no server process, and statement_timeout alone bounds
 * the statement) when the client hangs up. A statement inside a transaction is left to finish or fail
 * with it: the transaction is short, and all-or-nothing either way. statement_timeout bounds everything else.
 */
export function stopStatementsOfGoneClients(orm: MikroORM): void {
  const connection = orm.em.getConnection();
  const execute = connection.execute.bind(connection) as (...args: unknown[]) => Promise<unknown>;
  (connection as unknown as { execute: typeof execute }).execute = (query, params, method, ctx, loggerContext) => {
    const signal = requestSignal();
    throwIfClientGone(signal);
    const cancellable = signal && !ctx ? { ...(loggerContext as object), signal, inflightQueryAbortStrategy: 'cancel query' } : loggerContext;
    return execute(query, params, method, ctx, cancellable);
  };
}

/** The protocol's CancelRequest code (PostgreSQL's frontend/backend protocol, "CancelRequest"). */
const CANCEL_REQUEST_CODE = 80877102;

/** What a connected `pg` client knows of its server: where it is, and the key its server gave it for cancelling. */
interface CancelTarget {
  host: string;
  port: number;
  processID: number | null;
  secretKey: number | null;
}

/**
 * Asks the server to cancel what `target` is running: the protocol's CancelRequest (what psql sends on Ctrl-C), on a
 * connection of its own (in the clear, as libpq sends it: it carries only the key), with the process id and secret key
 * the server gave the client when it connected. A pooler
 * (PgBouncer) hands its clients keys of its own and forwards the request to the server connection the client is on
 * at that moment, so this works through one, where `pg_cancel_backend(processID)` would name no server process.
 * Resolves when the other side has closed the request's connection, which it does once it has acted on it.
 */
export function sendCancelRequest(target: CancelTarget, timeoutMs = 5_000): Promise<void> {
  const { host, port, processID, secretKey } = target;
  if (processID === null || secretKey === null) return Promise.resolve();
  return new Promise((resolve) => {
    const socket = host.startsWith('/') ? net.connect(`${host}/.s.PGSQL.${port}`) : net.connect(port, host);
    const packet = Buffer.alloc(16);
    packet.writeInt32BE(16, 0);
    packet.writeInt32BE(CANCEL_REQUEST_CODE, 4);
    packet.writeInt32BE(processID, 8);
    packet.writeInt32BE(secretKey, 12);
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.once('connect', () => socket.write(packet));
    socket.on('error', () => undefined);
    socket.once('close', () => resolve());
  });
}

/**
 * One statement on a pooled client, cancelled on the server if the request's client goes away while it runs (the
 * hot path's native queries, see native-query.ts).
 */
export async function queryCancellably<T extends Record<string, unknown>>(
  pool: Pool,
  text: string | QueryConfig<unknown[]>,
): Promise<{ rows: T[]; rowCount: number | null }> {
  const signal = requestSignal();
  throwIfClientGone(signal);
  if (!signal) return pool.query<T>(text as QueryConfig<unknown[]>);
  const client: PoolClient = await pool.connect();
  let cancelling: Promise<unknown> | undefined;
  const cancel = () => {
    cancelling = sendCancelRequest(client as unknown as CancelTarget);
  };
  signal.addEventListener('abort', cancel, { once: true });
  try {
    return await client.query<T>(text as QueryConfig<unknown[]>);
  } finally {
    signal.removeEventListener('abort', cancel);
    // The connection goes back only once a cancel sent for it has landed: on an idle connection it is ignored,
    // whereas on the pool's next user it would cancel someone else's statement.
    await cancelling;
    client.release();
  }
}
