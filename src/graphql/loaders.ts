import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import { CreditTransaction } from '../credits/credit-transaction.entity.js';
import { Workshop } from '../workshops/workshop.entity.js';
import { createWorkshopPageLoader } from '../workshops/workshop-list.js';

/** Per-request batch loaders: a page of rows resolves each relation in one query, however many rows it has. */
export interface Loaders {
  workshopById: DataLoader<string, Workshop | null>;
  transactionsByWorkshop: DataLoader<string, CreditTransaction[]>;
  workshopPages: ReturnType<typeof createWorkshopPageLoader>;
}

export function createLoaders(em: EntityManager): Loaders {
  return {
    workshopPages: createWorkshopPageLoader(em),
    workshopById: new DataLoader(async (ids) => {
      const workshops = await em.find(Workshop, { id: { $in: [...ids] } });
      const byId = new Map(workshops.map((w) => [w.id, w]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    transactionsByWorkshop: new DataLoader(async (ids) => {
      const rows = await em.find(CreditTransaction, { workshop: { $in: [...ids] } }, { orderBy: { postingSeq: 'desc' } });
      const byWorkshop = new Map<string, CreditTransaction[]>(ids.map((id) => [id, []]));
      for (const row of rows) if (row.workshop) byWorkshop.get(row.workshop.id)?.push(row);
      return ids.map((id) => byWorkshop.get(id) ?? []);
    }),
  };
}
