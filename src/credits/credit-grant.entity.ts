import { Check, Entity, Index, ManyToOne, OneToOne, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import { AccountEntity } from '../accounts/account.entity.js';
import { CreditTransactionEntity } from './credit-transaction.entity.js';

/**
 * The expiring part of a GRANT row: how much of it is left to spend until `expiresAt`. Ledger rows never change, so
 * what is left lives here, and every debit that drew on it is recorded in `credit_allocations`: `remaining` always
 * equals `amount` minus the allocations taken from it (the audit checks this).
 */
@Entity({ tableName: 'credit_grants' })
@Index({ name: 'credit_grants_account_open_index', properties: ['account', 'expiresAt'], where: 'remaining > 0' })
@Index({ name: 'credit_grants_account_expiry_index', properties: ['account', 'expiresAt'] })
@Index({ name: 'credit_grants_open_expiry_index', properties: ['expiresAt'], where: 'remaining > 0' })
@Check({ name: 'credit_grants_amount_check', expression: 'amount > 0' })
@Check({ name: 'credit_grants_remaining_check', expression: 'remaining >= 0 and remaining <= amount' })
export class CreditGrantEntity {
  [OptionalProps]?: 'createdAt';

  /** The GRANT row this lot of credits came from. */
  @OneToOne(() => CreditTransactionEntity, { primary: true, owner: true, fieldName: 'transaction_id', deleteRule: 'no action', updateRule: 'no action' })
  transaction!: CreditTransactionEntity;

  @ManyToOne(() => AccountEntity, { deleteRule: 'no action' })
  account!: AccountEntity;

  @Property({ type: 'integer' })
  amount!: number;

  @Property({ type: 'integer' })
  remaining!: number;

  @Property({ type: 'timestamptz' })
  expiresAt!: Date;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();
}
