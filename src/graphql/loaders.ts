import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { CreditTransaction } from '../credits/credit-transaction.entity.js';
import { transactionView } from '../credits/credit-transaction.entity.js';
import { pgTextArray } from '../database/row-view.js';
import type { Workshop } from '../workshops/workshop.entity.js';
import { createWorkshopPageLoader, workshopView } from '../workshops/workshop-list.js';

/** Per-request batch loaders: a page of rows resolves each relation in one query, however many rows it has. */
export interface Loaders {
  workshopById: DataLoader<string, Workshop | null>;
  transactionsByWorkshop: DataLoader<string, CreditTransaction[]>;
  workshopPages: ReturnType<typeof createWorkshopPageLoader>;
}

type Row = Record<string, unknown>;

export function createLoaders(em: EntityManager): Loaders {
  return {
    workshopPages: createWorkshopPageLoader(em),
    workshopById: new DataLoader(async (ids) => {
      const rows = await em.execute<Row[]>('select * from workshops where id = any(?::text[])', [pgTextArray(ids)]);
      const byId = new Map(rows.map((row) => [String(row.id), workshopView(row)]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    transactionsByWorkshop: new DataLoader(async (ids) => {
      const rows = await em.execute<Row[]>(
        'select * from credit_transactions where workshop_id = any(?::text[]) order by posting_seq desc',
        [pgTextArray(ids)],
      );
      const byWorkshop = new Map<string, CreditTransaction[]>(ids.map((id) => [id, []]));
      for (const row of rows) byWorkshop.get(String(row.workshop_id))?.push(transactionView(row));
      return ids.map((id) => byWorkshop.get(id) ?? []);
    }),
  };
}
