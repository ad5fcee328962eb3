import { Check, Entity, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { PrimaryKeyProp } from '@mikro-orm/core';
import { CreditGrant } from './credit-grant.entity.js';
import { CreditTransaction } from './credit-transaction.entity.js';

/** How much a debit (a CONSUMPTION, EXPIRATION or REFUND row) took from one expiring grant. */
@Entity({ tableName: 'credit_allocations' })
@Check({ name: 'credit_allocations_amount_check', expression: 'amount > 0' })
export class CreditAllocation {
  [PrimaryKeyProp]?: ['transaction', 'grant'];

  @ManyToOne(() => CreditTransaction, { primary: true, fieldName: 'transaction_id', deleteRule: 'no action', updateRule: 'no action' })
  transaction!: CreditTransaction;

  @Index({ name: 'credit_allocations_grant_id_index' })
  @ManyToOne(() => CreditGrant, { primary: true, fieldName: 'grant_id', deleteRule: 'no action', updateRule: 'no action' })
  grant!: CreditGrant;

  @Property({ type: 'integer' })
  amount!: number;
}
