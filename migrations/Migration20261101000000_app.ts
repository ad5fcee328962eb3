import { Migration } from '@mikro-orm/migrations';

/** The workshop app as it was before billing: users and their workshops. */
export class Migration20261101000000_app extends Migration {
  override name = 'Migration20261101000000_app';

  override up(): void {
    this.addSql(`create table "users" (
      "id" text not null,
      "clerk_user_id" text not null,
      "email" text null,
      "first_name" text null,
      "last_name" text null,
      "image_url" text null,
      "company" text null,
      "roles" text[] not null default '{}',
      "deleted_at" timestamptz null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      primary key ("id"));`);
    this.addSql(`alter table "users" add constraint "users_clerk_user_id_unique" unique ("clerk_user_id");`);

    this.addSql(`create table "workshops" (
      "id" text not null,
      "user_id" text not null,
      "title" text not null,
      "status" text not null default 'draft',
      "deleted_at" timestamptz null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      primary key ("id"));`);
    this.addSql(`create index "workshops_owner_keyset_index" on "workshops" ("user_id", "created_at", "id");`);
    this.addSql(
      `alter table "workshops" add constraint "workshops_status_check" check ("status" in ('draft', 'active', 'paused', 'completed'));`,
    );
    this.addSql(
      `alter table "workshops" add constraint "workshops_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete no action;`,
    );
  }

  override down(): void {
    this.addSql(`drop table if exists "workshops";`);
    this.addSql(`drop table if exists "users";`);
  }
}
