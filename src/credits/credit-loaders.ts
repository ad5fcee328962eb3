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

/** An account's ledger rows by id (a reservation's capture row, for instance): one statement per account. */
export const transactionsById = (ctx: RequestContext) =>
  new DataLoader<{ accountId: string; id: string }, CreditTransaction | null, string>(
    async (keys) => {
      const found = new Map<string, CreditTransaction>();
      for (const accountId of new Set(keys.map((key) => key.accountId))) {
        const ids = keys.filter((key) => key.accountId === accountId).map((key) => key.id);
        const rows = await ctx.em.execute<Row[]>('select * from credit_transactions where account_id = ? and id = any(?::text[])', [accountId, pgTextArray(ids)]);
        for (const row of rows) found.set(`${accountId}:${String(row.id)}`, toCreditTransaction(row));
      }
      return keys.map((key) => found.get(`${key.accountId}:${key.id}`) ?? null);
    },
    { cacheKeyFn: (key) => `${key.accountId}:${key.id}` },
  );
