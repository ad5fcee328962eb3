import DataLoader from 'dataloader';
import type { RequestContext } from '../core/context.js';
import { pgTextArray, type Row } from '../database/rows.js';
import { toCreditTransaction, type CreditTransaction } from './credit-transaction.model.js';

/** Each workshop's ledger rows, newest first, for a page of workshops in one statement. */
export const transactionsByWorkshop = (ctx: RequestContext) =>
  new DataLoader<string, CreditTransaction[]>(async (ids) => {
    const rows = await ctx.em.execute<Row[]>(
      'select * from credit_transactions where workshop_id = any(?::text[]) order by posting_seq desc',
      [pgTextArray(ids)],
    );
    const byWorkshop = new Map<string, CreditTransaction[]>(ids.map((id) => [id, []]));
    for (const row of rows) byWorkshop.get(String(row.workshop_id))?.push(toCreditTransaction(row));
    return ids.map((id) => byWorkshop.get(id) ?? []);
  });

/** Ledger rows by id (a reservation's capture row, for instance). */
export const transactionsById = (ctx: RequestContext) =>
  new DataLoader<string, CreditTransaction | null>(async (ids) => {
    const rows = await ctx.em.execute<Row[]>('select * from credit_transactions where id = any(?::text[])', [pgTextArray(ids)]);
    const byId = new Map(rows.map((row) => [String(row.id), toCreditTransaction(row)]));
    return ids.map((id) => byId.get(id) ?? null);
  });
