import { Check, Entity, Enum, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps, PrimaryKeyProp } from '@mikro-orm/core';
import { UserEntity } from '../users/user.entity.js';
import { OrganizationEntity } from './organization.entity.js';
import { OrganizationRole } from './organization-role.js';

/**
 * A user's membership of an organization, with their monthly spend limit and what counts against it this month:
 * `spent_credits` (their consumption from the wallet in `spend_month`, a UTC calendar month) and `held_credits`
 * (their open holds). The posting core keeps both in step with the ledger in the statements that spend. A removed
 * member keeps the row (removed_at), so coming back in the same month does not reset what they spent.
 */
@Entity({ tableName: 'organization_members' })
@Index({ name: 'organization_members_user_index', properties: ['user'] })
@Check({ name: 'organization_members_monthly_spend_limit_check', expression: 'monthly_spend_limit is null or monthly_spend_limit >= 0' })
@Check({ name: 'organization_members_spent_credits_check', expression: 'spent_credits >= 0' })
@Check({ name: 'organization_members_held_credits_check', expression: 'held_credits >= 0' })
export class OrganizationMemberEntity {
  [PrimaryKeyProp]?: ['organization', 'user'];
  [OptionalProps]?: 'spentCredits' | 'heldCredits' | 'createdAt' | 'updatedAt';

  @ManyToOne(() => OrganizationEntity, { primary: true, fieldName: 'organization_id', deleteRule: 'no action', updateRule: 'no action' })
  organization!: OrganizationEntity;

  @ManyToOne(() => UserEntity, { primary: true, fieldName: 'user_id', deleteRule: 'no action', updateRule: 'no action' })
  user!: UserEntity;

  @Enum({ items: () => OrganizationRole, type: 'text' })
  role!: OrganizationRole;

  /** Credits the member may spend from the wallet per UTC calendar month; null: no limit. */
  @Property({ type: 'integer', nullable: true })
  monthlySpendLimit?: number | null;

  /** The first day of the month `spent_credits` counts; an older month reads as nothing spent. */
  @Property({ type: 'date', nullable: true })
  spendMonth?: string | null;

  @Property({ type: 'integer', default: 0 })
  spentCredits: number = 0;

  @Property({ type: 'integer', default: 0 })
  heldCredits: number = 0;

  @Property({ type: 'timestamptz', nullable: true })
  removedAt?: Date | null;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  updatedAt: Date = new Date();
}
