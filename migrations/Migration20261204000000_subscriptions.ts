import { Migration } from '@mikro-orm/migrations';

/**
 * Plans and Stripe subscriptions. Plans become a table (free, pro and team to start with; any tier an account
 * already names is kept as a plan of its own, so nothing is orphaned), which every account's plan_tier now
 * references; accounts gain the state of the subscription that sets their plan; the ledger gains PLAN_CHANGE rows
 * (no credits move) as the audit trail of plan changes. Additive: no existing value changes. One transaction.
 */
export class Migration20261204000000_subscriptions extends Migration {
  override name = 'Migration20261204000000_subscriptions';

  override up(): void {
    this.addSql(`create table "plans" (
      "id" text not null,
      "name" text not null,
      "monthly_credits" int not null default 0,
      "rollover_cap" int null,
      "stripe_price_id" text null,
      "price_cents" int not null default 0,
      "currency" text not null default 'usd',
      "interval" text not null default 'month',
      "trial_days" int null,
      "active" boolean not null default true,
      "sort_order" int not null default 0,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      primary key ("id"));`);
    this.addSql(`alter table "plans" add constraint "plans_stripe_price_id_unique" unique ("stripe_price_id");`);
    this.addSql(`alter table "plans" add constraint "plans_interval_check" check ("interval" in ('month', 'year'));`);
    this.addSql(`alter table "plans" add constraint "plans_monthly_credits_check" check (monthly_credits >= 0);`);
    this.addSql(`alter table "plans" add constraint "plans_rollover_cap_check" check (rollover_cap is null or rollover_cap >= 0);`);
    this.addSql(`alter table "plans" add constraint "plans_price_cents_check" check (price_cents >= 0);`);
    this.addSql(`alter table "plans" add constraint "plans_trial_days_check" check (trial_days is null or (trial_days >= 1 and trial_days <= 730));`);
    this.addSql(`insert into "plans" (id, name, monthly_credits, rollover_cap, price_cents, currency, interval, sort_order) values
      ('free', 'Free', 0, null, 0, 'usd', 'month', 0),
      ('pro', 'Pro', 500, 250, 2000, 'usd', 'month', 1),
      ('team', 'Team', 2500, 1000, 9900, 'usd', 'month', 2);`);
    this.addSql(`insert into "plans" (id, name, sort_order)
      select distinct plan_tier, initcap(plan_tier), 100 from "accounts" on conflict (id) do nothing;`);

    this.addSql(`alter table "accounts"
      add column "scheduled_plan_tier" text null,
      add column "stripe_subscription_id" text null,
      add column "subscription_status" text null,
      add column "current_period_start" timestamptz null,
      add column "current_period_end" timestamptz null,
      add column "cancel_at_period_end" boolean not null default false,
      add column "subscription_created_at" timestamptz null,
      add column "subscription_event_at" timestamptz null;`);
    this.addSql(`alter table "accounts" add constraint "accounts_stripe_subscription_id_unique" unique ("stripe_subscription_id");`);
    this.addSql(`alter table "accounts" add constraint "accounts_subscription_status_check"
      check ("subscription_status" in ('trialing', 'active', 'past_due', 'canceled', 'unpaid', 'incomplete'));`);
    this.addSql(`alter table "accounts" add constraint "accounts_plan_tier_foreign" foreign key ("plan_tier") references "plans" ("id") on update no action on delete no action;`);
    this.addSql(`alter table "accounts" add constraint "accounts_scheduled_plan_tier_foreign" foreign key ("scheduled_plan_tier") references "plans" ("id") on update no action on delete no action;`);

    // A period's grants are found by their expiry (the period's end), spent or not.
    this.addSql(`create index "credit_grants_account_expiry_index" on "credit_grants" ("account_id", "expires_at");`);

    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_type_check";`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_type_check"
      check ("type" in ('purchase', 'consumption', 'refund', 'grant', 'expiration', 'dispute', 'dispute_won', 'plan_change'));`);
    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_amount_sign_check";`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_amount_sign_check"
      check ((type in ('purchase', 'grant') and amount > 0) or (type = 'dispute_won' and amount >= 0) or (type = 'plan_change' and amount = 0)
        or (type in ('consumption', 'refund', 'expiration', 'dispute') and amount <= 0));`);
  }

  override down(): void {
    // Fails (and so rolls back) while PLAN_CHANGE rows exist: the ledger cannot forget them.
    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_amount_sign_check";`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_amount_sign_check"
      check ((type in ('purchase', 'grant') and amount > 0) or (type = 'dispute_won' and amount >= 0) or (type in ('consumption', 'refund', 'expiration', 'dispute') and amount <= 0));`);
    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_type_check";`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_type_check"
      check ("type" in ('purchase', 'consumption', 'refund', 'grant', 'expiration', 'dispute', 'dispute_won'));`);
    this.addSql(`drop index "credit_grants_account_expiry_index";`);
    this.addSql(`alter table "accounts" drop constraint "accounts_scheduled_plan_tier_foreign";`);
    this.addSql(`alter table "accounts" drop constraint "accounts_plan_tier_foreign";`);
    this.addSql(`alter table "accounts" drop constraint "accounts_subscription_status_check";`);
    this.addSql(`alter table "accounts" drop constraint "accounts_stripe_subscription_id_unique";`);
    this.addSql(`alter table "accounts" drop column "scheduled_plan_tier", drop column "stripe_subscription_id", drop column "subscription_status", drop column "current_period_start",
      drop column "current_period_end", drop column "cancel_at_period_end", drop column "subscription_created_at", drop column "subscription_event_at";`);
    this.addSql(`drop table "plans";`);
  }
}
