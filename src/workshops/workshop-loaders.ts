import DataLoader from 'dataloader';
import type { RequestContext } from '../core/context.js';
import { pgTextArray, type Row } from '../database/rows.js';
import { createWorkshopPageLoader } from './workshop-list.js';
import { toWorkshop, type Workshop } from './workshop.model.js';

/** Workshops by id for one request: a page of ledger rows resolves its workshops in one statement. */
export const workshopsById = (ctx: RequestContext) =>
  new DataLoader<string, Workshop | null>(async (ids) => {
    const rows = await ctx.em.execute<Row[]>('select * from workshops where id = any(?::text[])', [pgTextArray(ids)]);
    const byId = new Map(rows.map((row) => [String(row.id), toWorkshop(row)]));
    return ids.map((id) => byId.get(id) ?? null);
  });

/** Pages of workshops for many users (User.workshops on a list of users) in one statement per page shape. */
export const workshopPages = (ctx: RequestContext) => createWorkshopPageLoader(ctx.em);
