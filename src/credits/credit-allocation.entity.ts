import { Check, Entity, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { PrimaryKeyProp } from '@mikro-orm/core';
import { CreditGrantEntity } from './credit-grant.entity.js';
import { CreditTransactionEntity } from './credit-transaction.entity.js';

/** How much a debit (a CONSUMPTION, EXPIRATION or REFUND row) took from one expiring grant. */
@Entity({ tableName: 'credit_allocations' })
@Check({ name: 'credit_allocations_amount_check', expression: 'amount > 0' })
export class CreditAllocationEntity {
  [PrimaryKeyProp]?: ['transaction', 'grant'];

  @ManyToOne(() => CreditTransactionEntity, { primary: true, fieldName: 'transaction_id', deleteRule: 'no action', updateRule: 'no action' })
  transaction!: CreditTransactionEntity;

  @Index({ name: 'credit_allocations_grant_id_index' })
  @ManyToOne(() => CreditGrantEntity, { primary: true, fieldName: 'grant_id', deleteRule: 'no action', updateRule: 'no action' })
  grant!: CreditGrantEntity;

  @Property({ type: 'integer' })
  amount!: number;
}
