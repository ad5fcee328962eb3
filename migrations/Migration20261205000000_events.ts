import { Migration } from '@mikro-orm/migrations';

/**
 * Events out: the outbox (`events`, numbered per account by `accounts.event_seq`), webhook endpoints and their
 * deliveries. Additive: existing accounts start at event_seq 0 and nothing else changes. One transaction.
 */
export class Migration20261205000000_events extends Migration {
  override name = 'Migration20261205000000_events';

  override up(): void {
    this.addSql(`alter table "accounts" add column "event_seq" bigint not null default 0;`);

    this.addSql(`create table "events" (
      "id" text not null,
      "account_id" text not null,
      "seq" bigint not null,
      "type" text not null,
      "payload" jsonb not null,
      "created_at" timestamptz not null default clock_timestamp(),
      "dispatched_at" timestamptz null,
      primary key ("id"));`);
    this.addSql(`alter table "events" add constraint "events_account_seq_unique" unique ("account_id", "seq");`);
    this.addSql(`create index "events_undispatched_index" on "events" ("created_at") where dispatched_at is null;`);
    this.addSql(`alter table "events" add constraint "events_account_id_foreign"
      foreign key ("account_id") references "accounts" ("id") on delete no action;`);

    this.addSql(`create table "webhook_endpoints" (
      "id" text not null,
      "url" text not null,
      "event_types" text[] not null,
      "description" text null,
      "secret" text null,
      "previous_secret" text null,
      "previous_secret_expires_at" timestamptz null,
      "enabled" boolean not null default true,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      "deleted_at" timestamptz null,
      primary key ("id"));`);
    this.addSql(`alter table "webhook_endpoints" add constraint "webhook_endpoints_event_types_check" check (cardinality(event_types) >= 1);`);

    this.addSql(`create table "webhook_deliveries" (
      "id" text not null,
      "endpoint_id" text not null,
      "event_id" text not null,
      "status" text not null default 'pending',
      "redelivery" boolean not null default false,
      "attempts" int not null default 0,
      "next_attempt_at" timestamptz null,
      "last_response_status" int null,
      "last_response_body" text null,
      "last_error" text null,
      "last_attempt_at" timestamptz null,
      "delivered_at" timestamptz null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      primary key ("id"));`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_status_check"
      check ("status" in ('pending', 'sending', 'delivered', 'failed'));`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_attempts_check" check (attempts >= 0);`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_next_attempt_check"
      check ((status in ('pending', 'sending')) = (next_attempt_at is not null));`);
    // At most one first delivery of an event to an endpoint, however many dispatchers run; redeliveries are extra rows.
    this.addSql(`create unique index "webhook_deliveries_first_unique" on "webhook_deliveries" ("endpoint_id", "event_id") where not redelivery;`);
    this.addSql(`create index "webhook_deliveries_due_index" on "webhook_deliveries" ("endpoint_id", "next_attempt_at") where status in ('pending', 'sending');`);
    this.addSql(`create index "webhook_deliveries_endpoint_keyset_index" on "webhook_deliveries" ("endpoint_id", "created_at", "id");`);
    this.addSql(`create index "webhook_deliveries_event_index" on "webhook_deliveries" ("event_id");`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_endpoint_id_foreign"
      foreign key ("endpoint_id") references "webhook_endpoints" ("id") on delete no action;`);
    this.addSql(`alter table "webhook_deliveries" add constraint "webhook_deliveries_event_id_foreign"
      foreign key ("event_id") references "events" ("id") on delete no action;`);
  }

  override down(): void {
    this.addSql(`drop table if exists "webhook_deliveries";`);
    this.addSql(`drop table if exists "webhook_endpoints";`);
    this.addSql(`drop table if exists "events";`);
    this.addSql(`alter table "accounts" drop column "event_seq";`);
  }
}
