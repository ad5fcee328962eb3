import DataLoader from 'dataloader';
import type { RequestContext } from '../core/context.js';
import { pgTextArray, type Row } from '../database/rows.js';
import { createWorkshopPageLoader } from './workshop-list.js';
import { toWorkshop, type Workshop } from './workshop.model.js';

/**
 * Workshops by account and id for one request: a page of an account's ledger rows resolves its workshops in one
 * statement (one per account), on the account the rows were charged to, which is the workshop's.
 */
export const workshopsById = (ctx: RequestContext) =>
  new DataLoader<{ accountId: string; id: string }, Workshop | null, string>(
    async (keys) => {
      const found = new Map<string, Workshop>();
      for (const accountId of new Set(keys.map((key) => key.accountId))) {
        const ids = keys.filter((key) => key.accountId === accountId).map((key) => key.id);
        const rows = await ctx.em.execute<Row[]>('select * from workshops where account_id = ? and id = any(?::text[])', [accountId, pgTextArray(ids)]);
        for (const row of rows) found.set(`${accountId}:${String(row.id)}`, toWorkshop(row));
      }
      return keys.map((key) => found.get(`${key.accountId}:${key.id}`) ?? null);
    },
    { cacheKeyFn: (key) => `${key.accountId}:${key.id}` },
  );

/** Pages of workshops for many users (User.workshops on a list of users) in one statement per page shape. */
export const workshopPages = (ctx: RequestContext) => createWorkshopPageLoader(ctx.em);
