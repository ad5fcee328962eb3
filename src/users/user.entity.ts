import { Check, Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { OptionalProps } from '@mikro-orm/core';

/**
 * The users table as the schema's source (migrations, the drift test). Requests never load it through the ORM: they
 * read rows into the User read model (user.model.ts) and change them in SQL.
 */
@Entity({ tableName: 'users' })
@Check({ name: 'users_credit_balance_check', expression: 'credit_balance >= 0' })
// Held and expiring credits are parts of the balance; the posting core keeps both within it (credits/posting/).
@Check({ name: 'users_held_credits_check', expression: 'held_credits >= 0 and held_credits <= credit_balance' })
@Check({ name: 'users_expiring_credits_check', expression: 'expiring_credits >= 0 and expiring_credits <= credit_balance' })
export class UserEntity {
  [OptionalProps]?: 'roles' | 'creditBalance' | 'heldCredits' | 'expiringCredits' | 'onboardingComplete' | 'planTier' | 'createdAt' | 'updatedAt';

  @PrimaryKey({ type: 'text' })
  id!: string;

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

  @Property({ type: 'text[]', defaultRaw: "'{}'" })
  roles: string[] = [];

  @Property({ type: 'integer', default: 0 })
  creditBalance: number = 0;

  @Property({ type: 'integer', default: 0 })
  heldCredits: number = 0;

  @Property({ type: 'integer', default: 0 })
  expiringCredits: number = 0;

  @Property({ type: 'boolean', default: false })
  onboardingComplete: boolean = false;

  @Property({ type: 'timestamptz', nullable: true })
  onboardingCompletedAt?: Date | null;

  @Index({ name: 'users_stripe_customer_id_index' })
  @Property({ type: 'text', nullable: true })
  stripeCustomerId?: string | null;

  @Property({ type: 'text', default: 'free' })
  planTier: string = 'free';

  @Property({ type: 'timestamptz', nullable: true })
  deletedAt?: Date | null;

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  updatedAt: Date = new Date();
}
