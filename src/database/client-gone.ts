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
 * request's signal, and one already running outside a transaction is cancelled on the server (pg_cancel_backend,
 * through the ORM's driver) when the client hangs up. A statement inside a transaction is left to finish or fail
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
    const pid = (client as unknown as { processID?: number }).processID;
    if (pid) cancelling = pool.query('select pg_cancel_backend($1)', [pid]).catch(() => undefined);
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
