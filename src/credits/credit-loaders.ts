import DataLoader from 'dataloader';
import type { RequestContext } from '../core/context.js';
import { pgTextArray, type Row } from '../database/rows.js';
import { toCreditTransaction, type CreditTransaction } from './credit-transaction.model.js';

/** Each workshop's newest `first` ledger rows, for a page of workshops in one statement per page size. */
export const transactionsByWorkshop = (ctx: RequestContext) =>
  new DataLoader<{ workshopId: string; first: number }, CreditTransaction[], string>(
    async (requests) => {
      const byWorkshop = new Map<string, CreditTransaction[]>();
      for (const first of new Set(requests.map((request) => request.first))) {
        const ids = [...new Set(requests.filter((request) => request.first === first).map((request) => request.workshopId))];
        const rows = await ctx.em.execute<Row[]>(
          `select t.* from unnest(?::text[]) as w(id)
           cross join lateral (select * from credit_transactions where workshop_id = w.id order by posting_seq desc limit ?) t`,
          [pgTextArray(ids), first],
        );
        for (const id of ids) byWorkshop.set(`${id}:${first}`, []);
        for (const row of rows) byWorkshop.get(`${String(row.workshop_id)}:${first}`)?.push(toCreditTransaction(row));
      }
      return requests.map((request) => byWorkshop.get(`${request.workshopId}:${request.first}`) ?? []);
    },
    { cacheKeyFn: (request) => `${request.workshopId}:${request.first}` },
  );

/** Ledger rows by id (a reservation's capture row, for instance). */
export const transactionsById = (ctx: RequestContext) =>
  new DataLoader<string, CreditTransaction | null>(async (ids) => {
    const rows = await ctx.em.execute<Row[]>('select * from credit_transactions where id = any(?::text[])', [pgTextArray(ids)]);
    const byId = new Map(rows.map((row) => [String(row.id), toCreditTransaction(row)]));
    return ids.map((id) => byId.get(id) ?? null);
  });
