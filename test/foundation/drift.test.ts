import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MikroORM } from '@mikro-orm/postgresql';
import { ormOptions } from '../../src/orm.js';
import { createTestDatabase } from '../support/database.js';

/** Invariant 6: a database built by the migrations is exactly what the entities describe. */
describe('schema drift', () => {
  let migrated: MikroORM;
  let appOnly: MikroORM;

  beforeAll(async () => {
    migrated = await MikroORM.init(ormOptions({ clientUrl: await createTestDatabase({ empty: true }), poolMax: 2 }));
    appOnly = await MikroORM.init(ormOptions({ clientUrl: await createTestDatabase({ empty: true }), poolMax: 2 }));
  });
  afterAll(async () => {
    await migrated?.close();
    await appOnly?.close();
  });

  it('finds nothing to change between the migrated database and the entities', async () => {
    expect((await migrated.migrator.up()).length).toBeGreaterThan(0);
    const drift = (await migrated.schema.getUpdateSchemaSQL({ wrap: false })).trim();
    if (drift !== '') {
      throw new Error(
        `entities changed without a migration:\n${drift}\n` +
          'Write a migration for these changes (npx mikro-orm migration:create), or bring the entities back in line.',
      );
    }
    expect(drift).toBe('');
    // What `npx mikro-orm migration:check` asks (true: a migration is needed).
    expect(await migrated.migrator.checkSchema()).toBe(false);
  });

  it('does see a difference when a migration is missing', async () => {
    await appOnly.migrator.up({ to: 'Migration20261101000000_app' });
    const drift = await appOnly.schema.getUpdateSchemaSQL({ wrap: false });
    expect(drift).toMatch(/credit_balance/);
    expect(drift).toMatch(/create table "credit_transactions"/);
    expect(await appOnly.migrator.checkSchema()).toBe(true);
  });
});
