import { Field, ID, Int, ObjectType, UseMiddleware } from 'type-graphql';
import { Cost, ListSize, textCost } from '../core/cost.js';
import { DateTimeScalar, type PgTimestamp } from '../core/date-time.js';

/** Profile claims are kept up to 512 characters (graphql/auth.ts). */
const CLAIM_COST = textCost(512);
import type { Row } from '../database/rows.js';
import { OwnDataOnly } from './own-data.js';
import { accountPlan, ACCOUNT_PLAN_COLUMNS } from '../accounts/account-plan.js';
import { SubscriptionStatus } from '../accounts/subscription-status.js';

/** A users row with its personal account's credits, plan and customer: what toUser reads. */
export const USER_ROWS = `select u.*, ${ACCOUNT_PLAN_COLUMNS}
  from users u join accounts a on a.id = u.id`;

/**
 * The User GraphQL type, as a read model of a users row (with its personal account's columns, USER_ROWS). Every object of this type comes from SQL through `toUser`
 * (nothing changes a user through the ORM), so it is the one runtime shape a resolver sees: timestamps are
 * PostgreSQL's text, as they come.
 */
@ObjectType('User', { description: 'A person who holds credits. Provisioned on the first authenticated request of a new `sub`.' })
export class User {
  @Field(() => ID)
  id!: string;

  @Cost(textCost(255))
  @Field(() => String)
  clerkUserId!: string;

  @Cost(CLAIM_COST)
  @Field(() => String, { nullable: true })
  email!: string | null;

  @Cost(CLAIM_COST)
  @Field(() => String, { nullable: true })
  firstName!: string | null;

  @Cost(CLAIM_COST)
  @Field(() => String, { nullable: true })
  lastName!: string | null;

  @Cost(CLAIM_COST)
  @Field(() => String, { nullable: true })
  imageUrl!: string | null;

  @Cost(CLAIM_COST)
  @Field(() => String, { nullable: true })
  company!: string | null;

  @UseMiddleware(OwnDataOnly)
  @ListSize(1)
  @Field(() => [String], { description: 'From the server configuration: `admin` for ADMIN_USER_IDS.' })
  roles!: string[];

  @UseMiddleware(OwnDataOnly)
  @Field(() => Int, { description: "Credits available now in the user's personal account: the sum of its completed ledger rows." })
  creditBalance!: number;

  @UseMiddleware(OwnDataOnly)
  @Field(() => Int, { description: 'Part of the balance held by open reservations: not spendable until they resolve.' })
  heldCredits!: number;

  @UseMiddleware(OwnDataOnly)
  @Field(() => Int, { description: 'Part of the balance that comes from grants with an expiry date (spent first).' })
  expiringCredits!: number;

  @UseMiddleware(OwnDataOnly)
  @Field(() => Int, { description: 'What can be spent or reserved now: creditBalance - heldCredits.' })
  spendableCredits!: number;

  @UseMiddleware(OwnDataOnly)
  @Field(() => Boolean)
  onboardingComplete!: boolean;

  onboardingCompletedAt!: PgTimestamp | null;

  @UseMiddleware(OwnDataOnly)
  @Field(() => String, { nullable: true })
  stripeCustomerId!: string | null;

  @UseMiddleware(OwnDataOnly)
  @Field(() => String, { description: "The plan the personal account is on (an id from `plans`): its subscription's, or one an admin set." })
  planTier!: string;

  @UseMiddleware(OwnDataOnly)
  @Field(() => String, { nullable: true, description: 'A downgrade made mid-period: the plan that applies from the next period.' })
  scheduledPlanTier!: string | null;

  @UseMiddleware(OwnDataOnly)
  @Field(() => SubscriptionStatus, { nullable: true, description: 'The state of the Stripe subscription that sets the plan; null: none ever.' })
  subscriptionStatus!: SubscriptionStatus | null;

  @UseMiddleware(OwnDataOnly)
  @Field(() => DateTimeScalar, { nullable: true, description: "When the subscription's current period ends (it renews, or ends if cancelAtPeriodEnd)." })
  currentPeriodEnd!: PgTimestamp | null;

  @UseMiddleware(OwnDataOnly)
  @Field(() => Boolean, { description: 'The subscription ends at the end of the current period (cancelled in the billing portal).' })
  cancelAtPeriodEnd!: boolean;

  deletedAt!: PgTimestamp | null;

  @Field(() => DateTimeScalar)
  createdAt!: PgTimestamp;

  @Field(() => DateTimeScalar)
  updatedAt!: PgTimestamp;
}

const text = (value: unknown) => (value === null || value === undefined ? null : String(value));

/** A users row as the User type. `roles` are the configured ones, passed in: stored roles are not trusted. */
export function toUser(row: Row, roles: readonly string[]): User {
  const creditBalance = Number(row.credit_balance);
  const heldCredits = Number(row.held_credits);
  return {
    id: String(row.id),
    clerkUserId: String(row.clerk_user_id),
    email: text(row.email),
    firstName: text(row.first_name),
    lastName: text(row.last_name),
    imageUrl: text(row.image_url),
    company: text(row.company),
    roles: [...roles],
    creditBalance,
    heldCredits,
    expiringCredits: Number(row.expiring_credits),
    spendableCredits: creditBalance - heldCredits,
    onboardingComplete: row.onboarding_complete === true,
    onboardingCompletedAt: text(row.onboarding_completed_at),
    ...accountPlan(row),
    deletedAt: text(row.deleted_at),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
}
