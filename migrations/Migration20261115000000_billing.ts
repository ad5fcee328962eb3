import { Migration } from '@mikro-orm/migrations';

/**
 * Billing and onboarding, added to a live app without touching existing data: new columns carry defaults, and the
 * ledger, packs and processed Stripe events are new tables. It runs in one transaction, so it all applies or none.
 */
export class Migration20261115000000_billing extends Migration {
  override name = 'Migration20261115000000_billing';

  override up(): void {
    this.addSql(`alter table "users"
      add column "credit_balance" int not null default 0,
      add column "onboarding_complete" boolean not null default false,
      add column "onboarding_completed_at" timestamptz null,
      add column "stripe_customer_id" text null,
      add column "plan_tier" text not null default 'free';`);
    this.addSql(`alter table "users" add constraint "users_credit_balance_check" check (credit_balance >= 0);`);
    this.addSql(`create index "users_stripe_customer_id_index" on "users" ("stripe_customer_id");`);

    this.addSql(`alter table "workshops" add column "credit_consumed_at" timestamptz null;`);

    this.addSql(`create table "credit_packs" (
      "id" text not null,
      "name" text not null,
      "credits" int not null,
      "price_cents" int not null,
      "currency" text not null default 'usd',
      "stripe_price_id" text null,
      "active" boolean not null default true,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      primary key ("id"));`);
    this.addSql(`alter table "credit_packs" add constraint "credit_packs_credits_check" check (credits > 0);`);
    this.addSql(`alter table "credit_packs" add constraint "credit_packs_price_cents_check" check (price_cents >= 0);`);

    this.addSql(`create table "stripe_events" (
      "id" text not null,
      "type" text not null,
      "outcome" text not null,
      "detail" text null,
      "livemode" boolean not null default false,
      "processed_at" timestamptz not null default now(),
      primary key ("id"));`);

    // Posting order of the ledger: drawn while the owner's row is locked, so it orders each user's rows as they
    // took effect (created_at cannot: two rows can share a timestamp, and a purchase takes effect after creation).
    this.addSql(`create sequence "credit_transactions_posting_seq";`);
    this.addSql(`create table "credit_transactions" (
      "id" text not null,
      "user_id" text not null,
      "type" text not null,
      "status" text not null,
      "amount" int not null,
      "balance_after" int not null,
      "description" text not null,
      "feature" text null,
      "idempotency_key" text null,
      "request_hash" text null,
      "workshop_id" text null,
      "stripe_session_id" text null,
      "stripe_payment_intent_id" text null,
      "refund_of_id" text null,
      "credits_reversed" int null,
      "metadata" jsonb null,
      "posting_seq" bigint not null default nextval('credit_transactions_posting_seq'),
      "effective_at" timestamptz null,
      "created_at" timestamptz not null default now(),
      primary key ("id"));`);
    this.addSql(`alter sequence "credit_transactions_posting_seq" owned by "credit_transactions"."posting_seq";`);
    this.addSql(`create index "credit_transactions_workshop_id_index" on "credit_transactions" ("workshop_id");`);
    this.addSql(
      `alter table "credit_transactions" add constraint "credit_transactions_stripe_session_id_unique" unique ("stripe_session_id");`,
    );
    this.addSql(
      `create index "credit_transactions_stripe_payment_intent_id_index" on "credit_transactions" ("stripe_payment_intent_id");`,
    );
    this.addSql(`create index "credit_transactions_refund_of_id_index" on "credit_transactions" ("refund_of_id");`);
    this.addSql(
      `alter table "credit_transactions" add constraint "credit_transactions_posting_seq_unique" unique ("posting_seq");`,
    );
    this.addSql(
      `create index "credit_transactions_user_type_index" on "credit_transactions" ("user_id", "type", "posting_seq");`,
    );
    this.addSql(`create index "credit_transactions_user_keyset_index" on "credit_transactions" ("user_id", "posting_seq");`);
    this.addSql(`create unique index "credit_transactions_workshop_charge_unique" on "credit_transactions" ("workshop_id")
      where type = 'consumption' and feature = 'workshop' and status = 'completed';`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_user_idempotency_key_unique"
      unique ("user_id", "idempotency_key");`);
    this.addSql(
      `alter table "credit_transactions" add constraint "credit_transactions_balance_after_check" check (balance_after >= 0);`,
    );
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_amount_sign_check"
      check ((type in ('purchase', 'grant') and amount > 0) or (type in ('consumption', 'refund') and amount <= 0));`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_type_check"
      check ("type" in ('purchase', 'consumption', 'refund', 'grant'));`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_status_check"
      check ("status" in ('pending', 'completed', 'failed'));`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_user_id_foreign"
      foreign key ("user_id") references "users" ("id") on delete no action;`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_workshop_id_foreign"
      foreign key ("workshop_id") references "workshops" ("id") on delete set null;`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_refund_of_id_foreign"
      foreign key ("refund_of_id") references "credit_transactions" ("id") on delete no action;`);
  }

  override down(): void {
    this.addSql(`drop table if exists "credit_transactions";`);
    this.addSql(`drop table if exists "stripe_events";`);
    this.addSql(`drop table if exists "credit_packs";`);
    this.addSql(`alter table "workshops" drop column "credit_consumed_at";`);
    this.addSql(`drop index "users_stripe_customer_id_index";`);
    this.addSql(`alter table "users" drop constraint "users_credit_balance_check";`);
    this.addSql(`alter table "users"
      drop column "credit_balance",
      drop column "onboarding_complete",
      drop column "onboarding_completed_at",
      drop column "stripe_customer_id",
      drop column "plan_tier";`);
  }
}
