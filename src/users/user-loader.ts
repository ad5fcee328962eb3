import DataLoader from 'dataloader';
import type { RequestContext } from '../core/context.js';
import { pgTextArray, type Row } from '../database/rows.js';
import { rolesFor } from './roles.js';
import { toUser, USER_ROWS, type User } from './user.model.js';

/** Users by id for one request, in one statement per batch; the edge primes it with the viewer's own row. */
export const usersById = (ctx: RequestContext) =>
  new DataLoader<string, User | null>(async (ids) => {
    const rows = await ctx.em.execute<Row[]>(`${USER_ROWS} where u.id = any(?::text[])`, [pgTextArray(ids)]);
    const admins = ctx.services.config.adminUserIds;
    const byId = new Map(rows.map((row) => [String(row.id), toUser(row, rolesFor(String(row.clerk_user_id), admins))]));
    return ids.map((id) => byId.get(id) ?? null);
  });
