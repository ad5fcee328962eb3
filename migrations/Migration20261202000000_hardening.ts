import { Migration } from '@mikro-orm/migrations';

/**
 * Refunds and disputes win over holds, and disputes are tracked: a reversal can shrink an open hold (down to zero,
 * recording what it took), the ledger gains DISPUTE and DISPUTE_WON rows, and a dispute's state lives in
 * stripe_disputes. A workshop's rows get an index in posting order. Additive over a live ledger (existing rows and
 * holds keep their values; reversed_amount starts at 0), in one transaction.
 */
export class Migration20261202000000_hardening extends Migration {
  override name = 'Migration20261202000000_hardening';

  override up(): void {
    this.addSql(`alter table "reservations" add column "reversed_amount" int not null default 0;`);
    this.addSql(`alter table "reservations" drop constraint "reservations_amount_check";`);
    this.addSql(`alter table "reservations" add constraint "reservations_amount_check" check (amount >= 0);`);
    this.addSql(`alter table "reservations" add constraint "reservations_reversed_amount_check" check (reversed_amount >= 0);`);

    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_type_check";`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_type_check"
      check ("type" in ('purchase', 'consumption', 'refund', 'grant', 'expiration', 'dispute', 'dispute_won'));`);
    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_amount_sign_check";`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_amount_sign_check"
      check ((type in ('purchase', 'grant') and amount > 0) or (type = 'dispute_won' and amount >= 0) or (type in ('consumption', 'refund', 'expiration', 'dispute') and amount <= 0));`);
    this.addSql(`create index "credit_transactions_workshop_keyset_index" on "credit_transactions" ("workshop_id", "posting_seq");`);
    this.addSql(`drop index "credit_transactions_workshop_id_index";`);

    this.addSql(`create table "stripe_disputes" (
      "id" text not null,
      "purchase_id" text not null,
      "status" text not null,
      "amount" int not null,
      "created_at" timestamptz not null default now(),
      "updated_at" timestamptz not null default now(),
      primary key ("id"));`);
    this.addSql(`alter table "stripe_disputes" add constraint "stripe_disputes_status_check" check ("status" in ('open', 'won', 'lost'));`);
    this.addSql(`create index "stripe_disputes_purchase_id_index" on "stripe_disputes" ("purchase_id");`);
    this.addSql(`alter table "stripe_disputes" add constraint "stripe_disputes_purchase_id_foreign"
      foreign key ("purchase_id") references "credit_transactions" ("id") on delete no action;`);
  }

  override down(): void {
    this.addSql(`drop table if exists "stripe_disputes";`);
    this.addSql(`create index "credit_transactions_workshop_id_index" on "credit_transactions" ("workshop_id");`);
    this.addSql(`drop index "credit_transactions_workshop_keyset_index";`);
    // Fails (and so rolls back) while DISPUTE rows exist, or a hold was taken to zero: the ledger cannot forget them.
    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_amount_sign_check";`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_amount_sign_check"
      check ((type in ('purchase', 'grant') and amount > 0) or (type in ('consumption', 'refund', 'expiration') and amount <= 0));`);
    this.addSql(`alter table "credit_transactions" drop constraint "credit_transactions_type_check";`);
    this.addSql(`alter table "credit_transactions" add constraint "credit_transactions_type_check"
      check ("type" in ('purchase', 'consumption', 'refund', 'grant', 'expiration'));`);
    this.addSql(`alter table "reservations" drop constraint "reservations_reversed_amount_check";`);
    this.addSql(`alter table "reservations" drop constraint "reservations_amount_check";`);
    this.addSql(`alter table "reservations" add constraint "reservations_amount_check" check (amount > 0);`);
    this.addSql(`alter table "reservations" drop column "reversed_amount";`);
  }
}
