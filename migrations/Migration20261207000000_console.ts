import { Migration } from '@mikro-orm/migrations';

/**
 * Who resolved a hold, and why: an operator who releases a stuck hold from the console gives a reason, kept on the
 * reservation beside who did it (a capture records who captured). Additive: existing rows keep null.
 */
export class Migration20261207000000_console extends Migration {
  override name = 'Migration20261207000000_console';

  override up(): void {
    this.addSql(`alter table "reservations" add column "resolved_by_id" text null, add column "resolution_reason" text null;`);
    this.addSql(`alter table "reservations" add constraint "reservations_resolved_by_id_foreign" foreign key ("resolved_by_id") references "users" ("id") on delete no action;`);
  }

  override down(): void {
    this.addSql(`alter table "reservations" drop constraint "reservations_resolved_by_id_foreign";`);
    this.addSql(`alter table "reservations" drop column "resolved_by_id", drop column "resolution_reason";`);
  }
}
