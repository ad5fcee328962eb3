import type { EntityManager } from '@mikro-orm/postgresql';
import { limitExceeded, notFound } from '../core/errors.js';
import { prefixedId } from '../core/ids.js';
import type { Row } from '../database/rows.js';
import { toWorkshop, type Workshop } from './workshop.model.js';

/** One of the user's workshops (not deleted); NOT_FOUND for anyone else's, so existence is not revealed. */
export async function ownedWorkshop(em: EntityManager, userId: string, workshopId: string): Promise<Workshop> {
  const [row] = await em.execute<Row[]>('select * from workshops where id = ? and user_id = ? and deleted_at is null', [workshopId, userId]);
  if (!row) throw notFound('Workshop', workshopId);
  return toWorkshop(row);
}

/**
 * A new DRAFT workshop, within the user's limit of `maxWorkshops` (not deleted). The count and the insert run under
 * a per-user advisory lock, so concurrent requests cannot slip past the limit together.
 */
export async function createWorkshop(
  em: EntityManager,
  userId: string,
  input: { title: string; accountId: string },
  maxWorkshops: number,
): Promise<Workshop> {
  return em.transactional(async (tx) => {
    await tx.execute(`select pg_advisory_xact_lock(hashtextextended('workshops:' || ?, 0))`, [userId]);
    const [row] = await tx.execute<Row[]>(
      `insert into workshops (id, user_id, account_id, title, status, created_at, updated_at)
       select ?, ?, ?, ?, 'draft', now(), now()
       where (select count(*) from workshops where user_id = ? and deleted_at is null) < ?
       returning *`,
      [prefixedId('ws'), userId, input.accountId, input.title, userId, maxWorkshops],
    );
    if (!row) throw limitExceeded('workshops per user', maxWorkshops);
    return toWorkshop(row);
  });
}
