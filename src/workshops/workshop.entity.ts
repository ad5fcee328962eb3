import { Entity, Enum, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import { AccountEntity } from '../accounts/account.entity.js';
import { UserEntity } from '../users/user.entity.js';
import { WorkshopStatus } from './workshop-status.js';

/** The workshops table as the schema's source; requests read rows into the Workshop read model (workshop.model.ts). */
@Entity({ tableName: 'workshops' })
@Index({ name: 'workshops_owner_keyset_index', properties: ['owner', 'createdAt', 'id'] })
export class WorkshopEntity {
  [OptionalProps]?: 'status' | 'createdAt' | 'updatedAt';

  @PrimaryKey({ type: 'text' })
  id!: string;

  @ManyToOne(() => UserEntity, { fieldName: 'user_id', deleteRule: 'no action' })
  owner!: UserEntity;

  /** The account its charge is posted to: the owner's personal account, or an organization's. */
  @ManyToOne(() => AccountEntity, { deleteRule: 'no action' })
  account!: AccountEntity;

  @Property({ type: 'text' })
  title!: string;

  @Enum({ items: () => WorkshopStatus, type: 'text', default: WorkshopStatus.DRAFT })
  status: WorkshopStatus = WorkshopStatus.DRAFT;

  @Property({ type: 'timestamptz', nullable: true })
  creditConsumedAt?: Date | null;

  @Property({ type: 'timestamptz', nullable: true })
  deletedAt?: Date | null;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  updatedAt: Date = new Date();
}
