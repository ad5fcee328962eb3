import { Entity, OneToOne, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';
import { AccountEntity } from '../accounts/account.entity.js';

/**
 * The users table as the schema's source (migrations, the drift test). A user's id is also the id of their personal
 * account (accounts), where their balance lives. Requests never load users through the ORM: they read rows into the
 * User read model (user.model.ts) and change them in SQL.
 */
@Entity({ tableName: 'users' })
export class UserEntity {
  [OptionalProps]?: 'roles' | 'onboardingComplete' | 'createdAt' | 'updatedAt';

  /** The user's id (usr_...), which is also their personal account's. */
  @OneToOne(() => AccountEntity, { primary: true, owner: true, fieldName: 'id', deleteRule: 'no action', updateRule: 'no action' })
  account!: AccountEntity;

  @Property({ type: 'text', unique: 'users_clerk_user_id_unique' })
  clerkUserId!: string;

  @Property({ type: 'text', nullable: true })
  email?: string | null;

  @Property({ type: 'text', nullable: true })
  firstName?: string | null;

  @Property({ type: 'text', nullable: true })
  lastName?: string | null;

  @Property({ type: 'text', nullable: true })
  imageUrl?: string | null;

  @Property({ type: 'text', nullable: true })
  company?: string | null;

  /** The roles last granted by the configuration; authorization reads the configuration itself (users/roles.ts). */
  @Property({ type: 'text[]', defaultRaw: "'{}'" })
  roles: string[] = [];

  @Property({ type: 'boolean', default: false })
  onboardingComplete: boolean = false;

  @Property({ type: 'timestamptz', nullable: true })
  onboardingCompletedAt?: Date | null;

  @Property({ type: 'timestamptz', nullable: true })
  deletedAt?: Date | null;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  updatedAt: Date = new Date();
}
