import { Migration } from '@mikro-orm/migrations';

/**
 * Accounts and organizations. A balance now belongs to an account: each user's personal account, whose id is the
 * user's own (so every existing row keeps its values: a ledger row's user_id becomes the same value as account_id),
 * or an organization's. Users' credit columns, plan tier and Stripe customer move to their account; the ledger, grant
 * and reservation tables point at accounts; ledger rows and holds gain the acting user; workshops gain the account
 * their charge is posted to (their owner's, for every existing one). Organizations and their members are new tables.
 * Nothing is lost and no id changes; it runs in one transaction, so it all applies or none. The down migration puts
 * every personal balance back on its user, and refuses (changing nothing) once an organization exists.
 */
export class Migration20261203000000_accounts extends Migration {
  override name = 'Migration20261203000000_accounts';

  override up(): void {
    this.addSql(`create table "accounts" (
      "id" text not null,
      "kind" text not null,
      "credit_balance" int not null default 0,
      "held_credits" int not null default 0,
      "expiring_credits" int not null default 0,
      "open_reservations" int not null default 0,
      "plan_tier" text not null default 'free',
      "stripe_customer_id" text null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      primary key ("id"));`);
    this.addSql(`alter table "accounts" add constraint "accounts_kind_check" check ("kind" in ('personal', 'organization'));`);
    this.addSql(`alter table "accounts" add constraint "accounts_credit_balance_check" check (credit_balance >= 0);`);
    this.addSql(`alter table "accounts" add constraint "accounts_held_credits_check" check (held_credits >= 0 and held_credits <= credit_balance);`);
    this.addSql(`alter table "accounts" add constraint "accounts_expiring_credits_check"
      check (expiring_credits >= 0 and expiring_credits <= credit_balance);`);
    this.addSql(`alter table "accounts" add constraint "accounts_open_reservations_check" check (open_reservations >= 0);`);
    this.addSql(`create index "accounts_stripe_customer_id_index" on "accounts" ("stripe_customer_id");`);

    // Every user's personal account, with the credits, plan and customer their row held.
    this.addSql(`insert into "accounts" (id, kind, credit_balance, held_credits, expiring_credits, open_reservations, plan_tier,
        stripe_customer_id, created_at, updated_at)
      select u.id, 'personal', u.credit_balance, u.held_credits, u.expiring_credits,
        (select count(*) from reservations r where r.user_id = u.id and r.status = 'held'), u.plan_tier, u.stripe_customer_id,
        u.created_at, u.updated_at
      from "users" u;`);
    this.addSql(`alter table "users" drop constraint "users_credit_balance_check",
      drop constraint "users_held_credits_check", drop constraint "users_expiring_credits_check";`);
    this.addSql(`drop index "users_stripe_customer_id_index";`);
    this.addSql(`alter table "users" drop column "credit_balance", drop column "held_credits", drop column "expiring_credits",
      drop column "plan_tier", drop column "stripe_customer_id";`);
    this.addSql(`alter table "users" add constraint "users_id_foreign" foreign key ("id") references "accounts" ("id") on update no action on delete no action;`);

    this.addSql(`alter table "credit_transactions" rename column "user_id" to "account_id";`);
    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_user_id_foreign";`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_account_id_foreign" foreign key ("account_id") references "accounts" ("id") on delete no action;`);
    this.addSql(`alter table "credit_transactions" rename constraint "credit_transactions_user_idempotency_key_unique" to "credit_transactions_account_idempotency_key_unique";`);
    this.addSql(`alter index "credit_transactions_user_keyset_index" rename to "credit_transactions_account_keyset_index";`);
    this.addSql(`alter index "credit_transactions_user_type_index" rename to "credit_transactions_account_type_index";`);
    this.addSql(`alter index "credit_transactions_user_effective_index" rename to "credit_transactions_account_effective_index";`);
    // Rows written before this have no recorded actor (null), as rows of jobs and webhooks.
    this.addSql(`alter table "credit_transactions" add column "actor_id" text null;`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_actor_id_foreign" foreign key ("actor_id") references "users" ("id") on delete no action;`);

    this.addSql(`alter table "credit_grants" rename column "user_id" to "account_id";`);
    this.addSql(`alter table "credit_grants" drop constraint "credit_grants_user_id_foreign";`);
    this.addSql(`alter table "credit_grants" add constraint "credit_grants_account_id_foreign" foreign key ("account_id") references "accounts" ("id") on delete no action;`);
    this.addSql(`alter index "credit_grants_user_open_index" rename to "credit_grants_account_open_index";`);

    this.addSql(`alter table "reservations" rename column "user_id" to "account_id";`);
    this.addSql(`alter table "reservations" drop constraint "reservations_user_id_foreign";`);
    this.addSql(`alter table "reservations" add constraint "reservations_account_id_foreign" foreign key ("account_id") references "accounts" ("id") on delete no action;`);
    this.addSql(`alter table "reservations" rename constraint "reservations_user_idempotency_key_unique" to "reservations_account_idempotency_key_unique";`);
    this.addSql(`alter index "reservations_user_held_index" rename to "reservations_account_held_index";`);
    this.addSql(`alter table "reservations" add column "actor_id" text null;`);
    this.addSql(`alter table "reservations" add constraint "reservations_actor_id_foreign" foreign key ("actor_id") references "users" ("id") on delete no action;`);

    this.addSql(`alter table "workshops" add column "account_id" text null;`);
    this.addSql(`update "workshops" set "account_id" = "user_id";`);
    this.addSql(`alter table "workshops" alter column "account_id" set not null;`);
    this.addSql(`alter table "workshops" add constraint "workshops_account_id_foreign" foreign key ("account_id") references "accounts" ("id") on delete no action;`);

    this.addSql(`create table "organizations" (
      "id" text not null,
      "name" text not null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      primary key ("id"));`);
    this.addSql(`alter table "organizations" add constraint "organizations_id_foreign" foreign key ("id") references "accounts" ("id") on update no action on delete no action;`);

    this.addSql(`create table "organization_members" (
      "organization_id" text not null,
      "user_id" text not null,
      "role" text not null,
      "monthly_spend_limit" int null,
      "spend_month" date null,
      "spent_credits" int not null default 0,
      "held_credits" int not null default 0,
      "removed_at" timestamptz null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      primary key ("organization_id", "user_id"));`);
    this.addSql(`alter table "organization_members" add constraint "organization_members_role_check" check ("role" in ('owner', 'admin', 'member'));`);
    this.addSql(`alter table "organization_members" add constraint "organization_members_monthly_spend_limit_check"
      check (monthly_spend_limit is null or monthly_spend_limit >= 0);`);
    this.addSql(`alter table "organization_members" add constraint "organization_members_spent_credits_check" check (spent_credits >= 0);`);
    this.addSql(`alter table "organization_members" add constraint "organization_members_held_credits_check" check (held_credits >= 0);`);
    this.addSql(`create index "organization_members_user_index" on "organization_members" ("user_id");`);
    this.addSql(`alter table "organization_members" add constraint "organization_members_organization_id_foreign"
      foreign key ("organization_id") references "organizations" ("id") on update no action on delete no action;`);
    this.addSql(`alter table "organization_members" add constraint "organization_members_user_id_foreign"
      foreign key ("user_id") references "users" ("id") on update no action on delete no action;`);
  }

  override down(): void {
    this.addSql(`do $$ begin
      if exists (select 1 from accounts where kind = 'organization') then
        raise exception 'organizations exist: their accounts have no place without them, so this migration cannot be undone';
      end if;
    end $$;`);
    this.addSql(`drop table "organization_members";`);
    this.addSql(`drop table "organizations";`);

    this.addSql(`alter table "workshops" drop constraint "workshops_account_id_foreign";`);
    this.addSql(`alter table "workshops" drop column "account_id";`);

    this.addSql(`alter table "reservations" drop constraint "reservations_actor_id_foreign";`);
    this.addSql(`alter table "reservations" drop column "actor_id";`);
    this.addSql(`alter index "reservations_account_held_index" rename to "reservations_user_held_index";`);
    this.addSql(`alter table "reservations" rename constraint "reservations_account_idempotency_key_unique" to "reservations_user_idempotency_key_unique";`);
    this.addSql(`alter table "reservations" drop constraint "reservations_account_id_foreign";`);
    this.addSql(`alter table "reservations" rename column "account_id" to "user_id";`);

    this.addSql(`alter index "credit_grants_account_open_index" rename to "credit_grants_user_open_index";`);
    this.addSql(`alter table "credit_grants" drop constraint "credit_grants_account_id_foreign";`);
    this.addSql(`alter table "credit_grants" rename column "account_id" to "user_id";`);

    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_actor_id_foreign";`);
    this.addSql(`alter table "credit_transactions" drop column "actor_id";`);
    this.addSql(`alter index "credit_transactions_account_effective_index" rename to "credit_transactions_user_effective_index";`);
    this.addSql(`alter index "credit_transactions_account_type_index" rename to "credit_transactions_user_type_index";`);
    this.addSql(`alter index "credit_transactions_account_keyset_index" rename to "credit_transactions_user_keyset_index";`);
    this.addSql(`alter table "credit_transactions" rename constraint "credit_transactions_account_idempotency_key_unique" to "credit_transactions_user_idempotency_key_unique";`);
    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_account_id_foreign";`);
    this.addSql(`alter table "credit_transactions" rename column "account_id" to "user_id";`);

    this.addSql(`alter table "users" drop constraint "users_id_foreign";`);
    this.addSql(`alter table "users" add column "credit_balance" int not null default 0, add column "held_credits" int not null default 0,
      add column "expiring_credits" int not null default 0, add column "plan_tier" text not null default 'free',
      add column "stripe_customer_id" text null;`);
    this.addSql(`update "users" u set credit_balance = a.credit_balance, held_credits = a.held_credits, expiring_credits = a.expiring_credits,
      plan_tier = a.plan_tier, stripe_customer_id = a.stripe_customer_id
      from "accounts" a where a.id = u.id;`);
    this.addSql(`alter table "users" add constraint "users_credit_balance_check" check (credit_balance >= 0),
      add constraint "users_held_credits_check" check (held_credits >= 0 and held_credits <= credit_balance),
      add constraint "users_expiring_credits_check" check (expiring_credits >= 0 and expiring_credits <= credit_balance);`);
    this.addSql(`create index "users_stripe_customer_id_index" on "users" ("stripe_customer_id");`);
    // The ledger's foreign keys point at users again, as before.
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete no action;`);
    this.addSql(`alter table "credit_grants" add constraint "credit_grants_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete no action;`);
    this.addSql(`alter table "reservations" add constraint "reservations_user_id_foreign" foreign key ("user_id") references "users" ("id") on delete no action;`);
    this.addSql(`drop table "accounts";`);
  }
}
