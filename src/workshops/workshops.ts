import type { EntityManager } from '@mikro-orm/postgresql';
import { notFound } from '../core/errors.js';
import { prefixedId } from '../core/ids.js';
import type { Row } from '../database/rows.js';
import { toWorkshop, type Workshop } from './workshop.model.js';

/** One of the user's workshops (not deleted); NOT_FOUND for anyone else's, so existence is not revealed. */
export async function ownedWorkshop(em: EntityManager, userId: string, workshopId: string): Promise<Workshop> {
  const [row] = await em.execute<Row[]>('select * from workshops where id = ? and user_id = ? and deleted_at is null', [workshopId, userId]);
  if (!row) throw notFound('Workshop', workshopId);
  return toWorkshop(row);
}

export async function createWorkshop(em: EntityManager, userId: string, input: { title: string }): Promise<Workshop> {
  const [row] = await em.execute<Row[]>(
    `insert into workshops (id, user_id, title, status, created_at, updated_at) values (?, ?, ?, 'draft', now(), now()) returning *`,
    [prefixedId('ws'), userId, input.title],
  );
  return toWorkshop(row!);
}
