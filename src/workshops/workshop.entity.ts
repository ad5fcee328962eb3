import { Entity, Enum, Index, ManyToOne, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { OptionalProps } from '@mikro-orm/core';
import { prefixedId } from '../database/ids.js';
import { User } from '../users/user.entity.js';

export enum WorkshopStatus {
  DRAFT = 'draft',
  ACTIVE = 'active',
  PAUSED = 'paused',
  COMPLETED = 'completed',
}
registerEnumType(WorkshopStatus, { name: 'WorkshopStatus' });

@ObjectType({ description: 'A unit of work that costs credits once.' })
@Entity({ tableName: 'workshops' })
@Index({ name: 'workshops_owner_keyset_index', properties: ['owner', 'createdAt', 'id'] })
export class Workshop {
  [OptionalProps]?: 'id' | 'status' | 'createdAt' | 'updatedAt';

  @Field(() => ID)
  @PrimaryKey({ type: 'text' })
  id: string = prefixedId('ws');

  @ManyToOne(() => User, { fieldName: 'user_id', deleteRule: 'no action' })
  owner!: User;

  @Field(() => String)
  @Property({ type: 'text' })
  title!: string;

  @Field(() => WorkshopStatus)
  @Enum({ items: () => WorkshopStatus, type: 'text', default: WorkshopStatus.DRAFT })
  status: WorkshopStatus = WorkshopStatus.DRAFT;

  @Field(() => Date, { nullable: true, description: 'When the workshop was charged; null until then.' })
  @Property({ type: 'timestamptz', nullable: true })
  creditConsumedAt?: Date | null;

  @Property({ type: 'timestamptz', nullable: true })
  deletedAt?: Date | null;

  @Field(() => Date)
  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Field(() => Date)
  @Property({ type: 'timestamptz', defaultRaw: 'now()', onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}
