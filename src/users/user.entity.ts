import { Check, Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';
import { Field, ID, Int, ObjectType } from 'type-graphql';
import { OptionalProps } from '@mikro-orm/core';
import { prefixedId } from '../database/ids.js';
import { rowView } from '../database/row-view.js';

export const ADMIN_ROLE = 'admin';

@ObjectType({ description: 'A person who holds credits. Provisioned on the first authenticated request of a new `sub`.' })
@Entity({ tableName: 'users' })
@Check({ name: 'users_credit_balance_check', expression: 'credit_balance >= 0' })
// Held and expiring credits are parts of the balance; the ledger keeps both within it (see credits/postings.ts).
@Check({ name: 'users_held_credits_check', expression: 'held_credits >= 0 and held_credits <= credit_balance' })
@Check({ name: 'users_expiring_credits_check', expression: 'expiring_credits >= 0 and expiring_credits <= credit_balance' })
export class User {
  [OptionalProps]?:
    | 'id'
    | 'roles'
    | 'creditBalance'
    | 'heldCredits'
    | 'expiringCredits'
    | 'spendableCredits'
    | 'onboardingComplete'
    | 'planTier'
    | 'createdAt'
    | 'updatedAt'
    | 'isAdmin';

  @Field(() => ID)
  @PrimaryKey({ type: 'text' })
  id: string = prefixedId('usr');

  @Field(() => String)
  @Property({ type: 'text', unique: 'users_clerk_user_id_unique' })
  clerkUserId!: string;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  email?: string | null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  firstName?: string | null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  lastName?: string | null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  imageUrl?: string | null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  company?: string | null;

  @Field(() => [String])
  @Property({ type: 'text[]', defaultRaw: "'{}'" })
  roles: string[] = [];

  @Field(() => Int, { description: 'Credits available now: the sum of this user\'s completed ledger rows.' })
  @Property({ type: 'integer', default: 0 })
  creditBalance: number = 0;

  @Field(() => Int, { description: 'Part of the balance held by open reservations: not spendable until they resolve.' })
  @Property({ type: 'integer', default: 0 })
  heldCredits: number = 0;

  @Field(() => Int, { description: 'Part of the balance that comes from grants with an expiry date (spent first).' })
  @Property({ type: 'integer', default: 0 })
  expiringCredits: number = 0;

  @Field(() => Int, { description: 'What can be spent or reserved now: creditBalance - heldCredits.' })
  get spendableCredits(): number {
    return this.creditBalance - this.heldCredits;
  }

  @Field(() => Boolean)
  @Property({ type: 'boolean', default: false })
  onboardingComplete: boolean = false;

  @Property({ type: 'timestamptz', nullable: true })
  onboardingCompletedAt?: Date | null;

  @Field(() => String, { nullable: true })
  @Index({ name: 'users_stripe_customer_id_index' })
  @Property({ type: 'text', nullable: true })
  stripeCustomerId?: string | null;

  @Field(() => String)
  @Property({ type: 'text', default: 'free' })
  planTier: string = 'free';

  @Property({ type: 'timestamptz', nullable: true })
  deletedAt?: Date | null;

  @Field(() => Date)
  @Property({ type: 'timestamptz', defaultRaw: 'now()' })
  createdAt: Date = new Date();

  @Field(() => Date)
  @Property({ type: 'timestamptz', defaultRaw: 'now()', onUpdate: () => new Date() })
  updatedAt: Date = new Date();

  isAdmin(): boolean {
    return this.roles.includes(ADMIN_ROLE);
  }
}

/**
 * A users row as a read model of the entity's shape (see database/row-view.ts): what a request knows of its viewer.
 * Changes to a user are made in SQL, never through this object.
 */
export const userView = (row: Record<string, unknown>): User => rowView(User, row, {});
