import { Entity, OneToOne, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import { AccountEntity } from '../accounts/account.entity.js';

/** An organization: a name over a shared account (its id is the account's, org_...). */
@Entity({ tableName: 'organizations' })
export class OrganizationEntity {
  [OptionalProps]?: 'createdAt' | 'updatedAt';

  @OneToOne(() => AccountEntity, { primary: true, owner: true, fieldName: 'id', deleteRule: 'no action', updateRule: 'no action' })
  account!: AccountEntity;

  @Property({ type: 'text' })
  name!: string;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  updatedAt: Date = new Date();
}
