import { Migration } from '@mikro-orm/migrations';

/**
 * Reservations, expiring grants (and the monthly plan allowances built on them) and balance-at-a-time queries, added
 * to a live ledger without touching its rows: new user columns default to 0 (no holds, nothing expiring), the type
 * and sign checks are widened for EXPIRATION rows, and the rest is new tables and indexes. One transaction.
 */
export class Migration20261124000000_reservations extends Migration {
  override name = 'Migration20261124000000_reservations';

  override up(): void {
    this.addSql(`alter table "users"
      add column "held_credits" int not null default 0,
      add column "expiring_credits" int not null default 0;`);
    this.addSql(`alter table "users" add constraint "users_held_credits_check"
      check (held_credits >= 0 and held_credits <= credit_balance);`);
    this.addSql(`alter table "users" add constraint "users_expiring_credits_check"
      check (expiring_credits >= 0 and expiring_credits <= credit_balance);`);

    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_type_check";`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_type_check"
      check ("type" in ('purchase', 'consumption', 'refund', 'grant', 'expiration'));`);
    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_amount_sign_check";`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_amount_sign_check"
      check ((type in ('purchase', 'grant') and amount > 0) or (type in ('consumption', 'refund', 'expiration') and amount <= 0));`);
    // The last COMPLETED row at or before a time (balance at that time) and usage windows, per user.
    this.addSql(`create index "credit_transactions_user_effective_index"
      on "credit_transactions" ("user_id", "effective_at", "posting_seq");`);

    this.addSql(`create table "credit_grants" (
      "transaction_id" text not null,
      "user_id" text not null,
      "amount" int not null,
      "remaining" int not null,
      "expires_at" timestamptz not null,
      "created_at" timestamptz not null default now(),
      primary key ("transaction_id"));`);
    this.addSql(`alter table "credit_grants" add constraint "credit_grants_amount_check" check (amount > 0);`);
    this.addSql(`alter table "credit_grants" add constraint "credit_grants_remaining_check" check (remaining >= 0 and remaining <= amount);`);
    this.addSql(`create index "credit_grants_user_open_index" on "credit_grants" ("user_id", "expires_at") where remaining > 0;`);
    this.addSql(`create index "credit_grants_open_expiry_index" on "credit_grants" ("expires_at") where remaining > 0;`);
    this.addSql(`alter table "credit_grants" add constraint "credit_grants_transaction_id_foreign"
      foreign key ("transaction_id") references "credit_transactions" ("id") on update no action on delete no action;`);
    this.addSql(`alter table "credit_grants" add constraint "credit_grants_user_id_foreign"
      foreign key ("user_id") references "users" ("id") on delete no action;`);

    this.addSql(`create table "credit_allocations" (
      "transaction_id" text not null,
      "grant_id" text not null,
      "amount" int not null,
      primary key ("transaction_id", "grant_id"));`);
    this.addSql(`alter table "credit_allocations" add constraint "credit_allocations_amount_check" check (amount > 0);`);
    this.addSql(`create index "credit_allocations_grant_id_index" on "credit_allocations" ("grant_id");`);
    this.addSql(`alter table "credit_allocations" add constraint "credit_allocations_transaction_id_foreign"
      foreign key ("transaction_id") references "credit_transactions" ("id") on update no action on delete no action;`);
    this.addSql(`alter table "credit_allocations" add constraint "credit_allocations_grant_id_foreign"
      foreign key ("grant_id") references "credit_grants" ("transaction_id") on update no action on delete no action;`);

    this.addSql(`create table "reservations" (
      "id" text not null,
      "user_id" text not null,
      "amount" int not null,
      "status" text not null default 'held',
      "feature" text not null,
      "idempotency_key" text not null,
      "request_hash" text not null,
      "description" text null,
      "expires_at" timestamptz not null,
      "captured_amount" int null,
      "transaction_id" text null,
      "resolved_at" timestamptz null,
      "created_at" timestamptz not null default now(),
      primary key ("id"));`);
    this.addSql(`alter table "reservations" add constraint "reservations_user_idempotency_key_unique" unique ("user_id", "idempotency_key");`);
    this.addSql(`alter table "reservations" add constraint "reservations_transaction_id_unique" unique ("transaction_id");`);
    // Only open holds are indexed: by expiry (the sweeper's work list) and by user (a user's lapsed holds).
    this.addSql(`create index "reservations_held_expiry_index" on "reservations" ("expires_at") where status = 'held';`);
    this.addSql(`create index "reservations_user_held_index" on "reservations" ("user_id", "expires_at") where status = 'held';`);
    this.addSql(`alter table "reservations" add constraint "reservations_amount_check" check (amount > 0);`);
    this.addSql(`alter table "reservations" add constraint "reservations_status_check"
      check ("status" in ('held', 'captured', 'released', 'expired'));`);
    this.addSql(`alter table "reservations" add constraint "reservations_captured_amount_check"
      check ((status = 'captured' and captured_amount >= 0 and captured_amount <= amount) or (status <> 'captured' and captured_amount is null));`);
    this.addSql(`alter table "reservations" add constraint "reservations_user_id_foreign"
      foreign key ("user_id") references "users" ("id") on delete no action;`);
    this.addSql(`alter table "reservations" add constraint "reservations_transaction_id_foreign"
      foreign key ("transaction_id") references "credit_transactions" ("id") on delete no action;`);
  }

  override down(): void {
    this.addSql(`drop table if exists "reservations";`);
    this.addSql(`drop table if exists "credit_allocations";`);
    this.addSql(`drop table if exists "credit_grants";`);
    this.addSql(`drop index "credit_transactions_user_effective_index";`);
    // Fails (and so rolls back) while EXPIRATION rows exist: the ledger cannot forget them.
    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_amount_sign_check";`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_amount_sign_check"
      check ((type in ('purchase', 'grant') and amount > 0) or (type in ('consumption', 'refund') and amount <= 0));`);
    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_type_check";`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_type_check"
      check ("type" in ('purchase', 'consumption', 'refund', 'grant'));`);
    this.addSql(`alter table "users" drop constraint "users_expiring_credits_check";`);
    this.addSql(`alter table "users" drop constraint "users_held_credits_check";`);
    this.addSql(`alter table "users" drop column "held_credits", drop column "expiring_credits";`);
  }
}
