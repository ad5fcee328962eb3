import { Migration } from '@mikro-orm/migrations';

/**
 * Where events come from, written by the database in the transaction of the change itself, so that no code path can
 * change an account without its event or write an event without its change:
 *
 * - every COMPLETED ledger row, and a purchase's move from PENDING (credits.consumed, credits.granted,
 *   purchase.completed, purchase.failed, credits.refunded, credits.disputed, credits.dispute_won, credits.expired,
 *   plan.changed), at the end of the statement that wrote it;
 * - every reservation's creation and resolution (reservation.created, .captured, .released, .expired);
 * - an account's spendable balance crossing its low-balance threshold downwards (balance.low) or reaching zero
 *   (balance.depleted), once per crossing: the trigger sees the row before and after each update, and updates of
 *   one account are serialized by its row lock, so concurrent spending crosses once;
 * - auto-recharge: a decrease that leaves the spendable balance under the account's recharge threshold records one
 *   attempt, when none is in flight, none is backing off and the month's limit allows (the recharge worker then asks
 *   Stripe for the payment, outside any transaction);
 * - a change of the account's subscription (subscription.updated).
 *
 * The account triggers are deferred to the end of the transaction (they see each update's before and after all the
 * same), so an alert follows the ledger row that caused it. Each event takes the account's next number
 * (accounts.event_seq) like appendEvent (src/events/outbox.ts).
 */
export class Migration20261206000000_event_sources extends Migration {
  override name = 'Migration20261206000000_event_sources';

  override up(): void {
    this.addSql(`alter table "accounts"
      add column "low_balance_threshold" int null,
      add column "stripe_payment_method_id" text null,
      add column "auto_recharge_enabled" boolean not null default false,
      add column "auto_recharge_threshold" int null,
      add column "auto_recharge_pack_id" text null,
      add column "auto_recharge_monthly_limit" int null,
      add column "auto_recharge_month" date null,
      add column "auto_recharge_count" int not null default 0,
      add column "auto_recharge_attempt_id" text null,
      add column "auto_recharge_failures" int not null default 0,
      add column "auto_recharge_not_before" timestamptz null;`);
    this.addSql(`alter table "accounts" add constraint "accounts_low_balance_threshold_check" check (low_balance_threshold is null or low_balance_threshold >= 0);`);
    this.addSql(`alter table "accounts" add constraint "accounts_auto_recharge_check" check (
      not auto_recharge_enabled or (auto_recharge_threshold is not null and auto_recharge_pack_id is not null and auto_recharge_monthly_limit is not null));`);
    this.addSql(`alter table "accounts" add constraint "accounts_auto_recharge_counts_check" check (
      auto_recharge_count >= 0 and auto_recharge_failures >= 0 and (auto_recharge_threshold is null or auto_recharge_threshold >= 0)
      and (auto_recharge_monthly_limit is null or auto_recharge_monthly_limit >= 1));`);

    this.addSql(`create table "auto_recharge_attempts" (
      "id" text not null,
      "account_id" text not null,
      "pack_id" text not null,
      "status" text not null default 'pending',
      "stripe_payment_intent_id" text null,
      "failure_reason" text null,
      "tries" int not null default 0,
      "next_try_at" timestamptz not null default now(),
      "purchase_id" text null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      "completed_at" timestamptz null,
      primary key ("id"));`);
    this.addSql(`alter table "auto_recharge_attempts" add constraint "auto_recharge_attempts_status_check"
      check ("status" in ('pending', 'processing', 'succeeded', 'failed'));`);
    this.addSql(`alter table "auto_recharge_attempts" add constraint "auto_recharge_attempts_tries_check" check (tries >= 0);`);
    this.addSql(`alter table "auto_recharge_attempts" add constraint "auto_recharge_attempts_stripe_payment_intent_id_unique" unique ("stripe_payment_intent_id");`);
    this.addSql(`alter table "auto_recharge_attempts" add constraint "auto_recharge_attempts_account_id_foreign" foreign key ("account_id") references "accounts" ("id") on update no action on delete no action;`);
    this.addSql(`alter table "auto_recharge_attempts" add constraint "auto_recharge_attempts_pack_id_foreign" foreign key ("pack_id") references "credit_packs" ("id") on update no action on delete no action;`);
    this.addSql(`create index "auto_recharge_attempts_account_index" on "auto_recharge_attempts" ("account_id", "created_at");`);
    this.addSql(`create index "auto_recharge_attempts_due_index" on "auto_recharge_attempts" ("next_try_at") where status in ('pending', 'processing');`);

    this.addSql(`create function tally_append_event(p_account text, p_type text, p_payload jsonb) returns void language plpgsql as $$
      declare next_seq bigint;
      begin
        update accounts set event_seq = event_seq + 1 where id = p_account returning event_seq into next_seq;
        insert into events (id, account_id, seq, type, payload, created_at)
        values ('evt_' || replace(gen_random_uuid()::text, '-', ''), p_account, next_seq, p_type, p_payload, clock_timestamp());
      end $$;`);

    this.addSql(`create function tally_iso(t timestamptz) returns text language sql immutable as $$
      select to_char(t at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;`);

    // A ledger row as the CreditTransaction GraphQL type shows it (enum values upper case, ISO-8601 times).
    this.addSql(`create function tally_transaction_json(t credit_transactions) returns jsonb language sql stable as $$
      select jsonb_build_object(
        'id', t.id, 'accountId', t.account_id, 'actorId', t.actor_id, 'type', upper(t.type), 'status', upper(t.status),
        'amount', t.amount, 'balanceAfter', t.balance_after, 'description', t.description, 'feature', t.feature,
        'idempotencyKey', t.idempotency_key, 'workshopId', t.workshop_id, 'stripeSessionId', t.stripe_session_id,
        'stripePaymentIntentId', t.stripe_payment_intent_id, 'refundOfId', t.refund_of_id, 'metadata', t.metadata,
        'effectiveAt', tally_iso(t.effective_at), 'createdAt', tally_iso(t.created_at)) $$;`);

    this.addSql(`create function tally_ledger_event() returns trigger language plpgsql as $$
      declare
        kind text;
        account record;
      begin
        if TG_OP = 'UPDATE' and OLD.status = NEW.status then return null; end if;
        kind := case NEW.type
          when 'consumption' then 'credits.consumed'
          when 'grant' then 'credits.granted'
          when 'purchase' then case when NEW.status = 'completed' then 'purchase.completed' else 'purchase.failed' end
          when 'refund' then 'credits.refunded'
          when 'dispute' then 'credits.disputed'
          when 'dispute_won' then 'credits.dispute_won'
          when 'expiration' then 'credits.expired'
          when 'plan_change' then 'plan.changed'
          else 'credits.' || NEW.type end;
        select credit_balance, held_credits into account from accounts where id = NEW.account_id;
        perform tally_append_event(NEW.account_id, kind, jsonb_build_object(
          'transaction', tally_transaction_json(NEW), 'balanceAfter', NEW.balance_after,
          'creditBalance', account.credit_balance, 'spendableCredits', account.credit_balance - account.held_credits));
        return null;
      end $$;`);
    this.addSql(`create trigger "credit_transactions_event" after insert or update of status on "credit_transactions"
      for each row when (NEW.status <> 'pending') execute function tally_ledger_event();`);

    this.addSql(`create function tally_reservation_event() returns trigger language plpgsql as $$
      declare account record;
      begin
        if TG_OP = 'UPDATE' and OLD.status = NEW.status then return null; end if;
        select credit_balance, held_credits into account from accounts where id = NEW.account_id;
        perform tally_append_event(NEW.account_id, 'reservation.' || case when TG_OP = 'INSERT' then 'created' else NEW.status end, jsonb_build_object(
          'reservation', jsonb_build_object(
            'id', NEW.id, 'accountId', NEW.account_id, 'actorId', NEW.actor_id, 'status', upper(NEW.status), 'amount', NEW.amount,
            'capturedAmount', NEW.captured_amount, 'feature', NEW.feature, 'idempotencyKey', NEW.idempotency_key,
            'transactionId', NEW.transaction_id, 'expiresAt', tally_iso(NEW.expires_at), 'resolvedAt', tally_iso(NEW.resolved_at),
            'createdAt', tally_iso(NEW.created_at)),
          'creditBalance', account.credit_balance, 'heldCredits', account.held_credits,
          'spendableCredits', account.credit_balance - account.held_credits));
        return null;
      end $$;`);
    this.addSql(`create trigger "reservations_event" after insert or update of status on "reservations"
      for each row execute function tally_reservation_event();`);

    this.addSql(`create function tally_account_event() returns trigger language plpgsql as $$
      declare
        before_spendable int := OLD.credit_balance - OLD.held_credits;
        after_spendable int := NEW.credit_balance - NEW.held_credits;
        this_month date := (now() at time zone 'UTC')::date - (extract(day from now() at time zone 'UTC')::int - 1);
        attempt text;
        current record;
      begin
        if after_spendable < before_spendable then
          if NEW.low_balance_threshold is not null and before_spendable >= NEW.low_balance_threshold and after_spendable < NEW.low_balance_threshold then
            perform tally_append_event(NEW.id, 'balance.low', jsonb_build_object(
              'threshold', NEW.low_balance_threshold, 'creditBalance', NEW.credit_balance, 'heldCredits', NEW.held_credits,
              'spendableCredits', after_spendable, 'previousSpendableCredits', before_spendable));
          end if;
          if before_spendable > 0 and after_spendable <= 0 then
            perform tally_append_event(NEW.id, 'balance.depleted', jsonb_build_object(
              'creditBalance', NEW.credit_balance, 'heldCredits', NEW.held_credits, 'spendableCredits', after_spendable,
              'previousSpendableCredits', before_spendable));
          end if;
          -- The row as it is now (an earlier update of this transaction may have started an attempt already).
          select auto_recharge_enabled, auto_recharge_attempt_id, auto_recharge_threshold, auto_recharge_not_before,
                 auto_recharge_month, auto_recharge_count, auto_recharge_monthly_limit, auto_recharge_pack_id, credit_balance, held_credits
            into current from accounts where id = NEW.id;
          if current.auto_recharge_enabled and current.auto_recharge_attempt_id is null
             and current.credit_balance - current.held_credits < current.auto_recharge_threshold
             and (current.auto_recharge_not_before is null or current.auto_recharge_not_before <= now())
             and (case when current.auto_recharge_month = this_month then current.auto_recharge_count else 0 end) < current.auto_recharge_monthly_limit then
            attempt := 'ar_' || replace(gen_random_uuid()::text, '-', '');
            insert into auto_recharge_attempts (id, account_id, pack_id, status, created_at, updated_at, next_try_at)
            values (attempt, NEW.id, current.auto_recharge_pack_id, 'pending', now(), now(), now());
            update accounts set auto_recharge_attempt_id = attempt,
              auto_recharge_count = (case when auto_recharge_month = this_month then auto_recharge_count else 0 end) + 1,
              auto_recharge_month = this_month
            where id = NEW.id;
          end if;
        end if;
        if (OLD.subscription_status, OLD.current_period_start, OLD.current_period_end, OLD.cancel_at_period_end, OLD.stripe_subscription_id, OLD.scheduled_plan_tier)
           is distinct from (NEW.subscription_status, NEW.current_period_start, NEW.current_period_end, NEW.cancel_at_period_end, NEW.stripe_subscription_id, NEW.scheduled_plan_tier) then
          perform tally_append_event(NEW.id, 'subscription.updated', jsonb_build_object(
            'subscription', jsonb_build_object(
              'stripeSubscriptionId', NEW.stripe_subscription_id, 'status', upper(NEW.subscription_status),
              'planTier', NEW.plan_tier, 'scheduledPlanTier', NEW.scheduled_plan_tier,
              'currentPeriodStart', tally_iso(NEW.current_period_start), 'currentPeriodEnd', tally_iso(NEW.current_period_end),
              'cancelAtPeriodEnd', NEW.cancel_at_period_end),
            'previousStatus', upper(OLD.subscription_status)));
        end if;
        return null;
      end $$;`);
    // Deferred to commit (the WHEN is still checked at each update, so an update that matters nothing queues nothing).
    this.addSql(`create constraint trigger "accounts_event" after update on "accounts" deferrable initially deferred
      for each row when (
        (NEW.credit_balance - NEW.held_credits < OLD.credit_balance - OLD.held_credits
          and (NEW.low_balance_threshold is not null or NEW.auto_recharge_enabled or NEW.credit_balance - NEW.held_credits <= 0))
        or (OLD.subscription_status, OLD.current_period_start, OLD.current_period_end, OLD.cancel_at_period_end, OLD.stripe_subscription_id, OLD.scheduled_plan_tier)
           is distinct from (NEW.subscription_status, NEW.current_period_start, NEW.current_period_end, NEW.cancel_at_period_end, NEW.stripe_subscription_id, NEW.scheduled_plan_tier))
      execute function tally_account_event();`);
  }

  override down(): void {
    this.addSql(`drop trigger if exists "accounts_event" on "accounts";`);
    this.addSql(`drop trigger if exists "reservations_event" on "reservations";`);
    this.addSql(`drop trigger if exists "credit_transactions_event" on "credit_transactions";`);
    this.addSql(`drop function if exists tally_account_event();`);
    this.addSql(`drop function if exists tally_reservation_event();`);
    this.addSql(`drop function if exists tally_ledger_event();`);
    this.addSql(`drop function if exists tally_transaction_json(credit_transactions);`);
    this.addSql(`drop function if exists tally_iso(timestamptz);`);
    this.addSql(`drop function if exists tally_append_event(text, text, jsonb);`);
    this.addSql(`drop table if exists "auto_recharge_attempts";`);
    this.addSql(`alter table "accounts" drop constraint "accounts_auto_recharge_counts_check";`);
    this.addSql(`alter table "accounts" drop constraint "accounts_auto_recharge_check";`);
    this.addSql(`alter table "accounts" drop constraint "accounts_low_balance_threshold_check";`);
    this.addSql(`alter table "accounts" drop column "low_balance_threshold", drop column "stripe_payment_method_id", drop column "auto_recharge_enabled",
      drop column "auto_recharge_threshold", drop column "auto_recharge_pack_id", drop column "auto_recharge_monthly_limit", drop column "auto_recharge_month",
      drop column "auto_recharge_count", drop column "auto_recharge_attempt_id", drop column "auto_recharge_failures", drop column "auto_recharge_not_before";`);
  }
}
