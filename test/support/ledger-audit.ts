import { MikroORM } from '@mikro-orm/postgresql';
import { auditLedger, type LedgerAudit } from '../../src/credits/audit.js';
import { ormOptions } from '../../src/orm.js';

/** The ledger audit (invariants 2 and 3 for every user) run against a database directly, not through a server. */
export async function auditDatabase(databaseUrl: string): Promise<LedgerAudit> {
  const orm = await MikroORM.init(ormOptions({ clientUrl: databaseUrl, poolMax: 2 }));
  try {
    return await auditLedger(orm.em.fork());
  } finally {
    await orm.close();
  }
}
