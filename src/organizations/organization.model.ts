import { Field, ID, Int, ObjectType } from 'type-graphql';
import { ListSize } from '../core/cost.js';
import { DateTimeScalar, type PgTimestamp } from '../core/date-time.js';
import { PageInfo } from '../core/pagination.js';
import type { Row } from '../database/rows.js';
import { OrganizationRole } from './organization-role.js';
import { accountPlan, ACCOUNT_PLAN_COLUMNS } from '../accounts/account-plan.js';
import { SubscriptionStatus } from '../accounts/subscription-status.js';

/** An organizations row with its account's credits and plan: what toOrganization reads. */
export const ORGANIZATION_ROWS = `select o.id, o.name, o.created_at, o.updated_at, ${ACCOUNT_PLAN_COLUMNS}
  from organizations o join accounts a on a.id = o.id`;

/** The Organization GraphQL type: a read model of an organization and its shared account (see users/user.model.ts). */
@ObjectType('Organization', { description: "A team with a shared wallet: members spend from the organization's account, within their limits." })
export class Organization {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => Int, { description: "Credits available now in the organization's account: the sum of its completed ledger rows." })
  creditBalance!: number;

  @Field(() => Int, { description: 'Part of the balance held by open reservations: not spendable until they resolve.' })
  heldCredits!: number;

  @Field(() => Int, { description: 'What can be spent or reserved now: creditBalance - heldCredits.' })
  spendableCredits!: number;

  @Field(() => Int, { description: 'Part of the balance that comes from grants with an expiry date (spent first).' })
  expiringCredits!: number;

  @Field(() => String, { description: "The plan the organization is on (an id from `plans`): its subscription's, or one an admin set." })
  planTier!: string;

  @Field(() => String, { nullable: true, description: 'A downgrade made mid-period: the plan that applies from the next period.' })
  scheduledPlanTier!: string | null;

  @Field(() => SubscriptionStatus, { nullable: true, description: 'The state of the Stripe subscription that sets the plan; null: none ever.' })
  subscriptionStatus!: SubscriptionStatus | null;

  @Field(() => DateTimeScalar, { nullable: true, description: "When the subscription's current period ends (it renews, or ends if cancelAtPeriodEnd)." })
  currentPeriodEnd!: PgTimestamp | null;

  @Field(() => Boolean, { description: 'The subscription ends at the end of the current period (cancelled in the billing portal).' })
  cancelAtPeriodEnd!: boolean;

  stripeCustomerId!: string | null;

  /** The asking user's role, resolved when the organization is read for them. */
  @Field(() => OrganizationRole, { description: "The viewer's role here (a Tally admin who is not a member sees OWNER: they may do what an owner may)." })
  viewerRole!: OrganizationRole;

  @Field(() => DateTimeScalar)
  createdAt!: PgTimestamp;

  updatedAt!: PgTimestamp;
}

export const toOrganization = (row: Row, viewerRole: OrganizationRole): Organization => {
  const creditBalance = Number(row.credit_balance);
  const heldCredits = Number(row.held_credits);
  return {
    id: String(row.id),
    name: String(row.name),
    creditBalance,
    heldCredits,
    spendableCredits: creditBalance - heldCredits,
    expiringCredits: Number(row.expiring_credits),
    ...accountPlan(row),
    viewerRole,
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
};

@ObjectType('OrganizationMember', { description: "A user's membership of an organization." })
export class OrganizationMember {
  organizationId!: string;

  userId!: string;

  @Field(() => OrganizationRole)
  role!: OrganizationRole;

  @Field(() => Int, { nullable: true, description: "Credits the member may spend from the organization's wallet per UTC calendar month; null: no limit." })
  monthlySpendLimit!: number | null;

  @Field(() => Int, { description: "The member's consumption from this organization's wallet this UTC calendar month (captures included)." })
  spentThisMonth!: number;

  @Field(() => Int, { description: 'Credits the member holds in open reservations on this wallet; they count against the limit while open.' })
  heldCredits!: number;

  @Field(() => DateTimeScalar, { description: 'When they joined (or joined again).' })
  createdAt!: PgTimestamp;
}

/** The first day of the current UTC month, as PostgreSQL writes a date. */
const thisMonth = (now: Date) => `${now.toISOString().slice(0, 7)}-01`;

export const toOrganizationMember = (row: Row, now = new Date()): OrganizationMember => ({
  organizationId: String(row.organization_id),
  userId: String(row.user_id),
  role: row.role as OrganizationRole,
  monthlySpendLimit: row.monthly_spend_limit === null ? null : Number(row.monthly_spend_limit),
  spentThisMonth: String(row.spend_month ?? '') === thisMonth(now) ? Number(row.spent_credits) : 0,
  heldCredits: Number(row.held_credits),
  createdAt: String(row.created_at),
});

@ObjectType()
export class OrganizationMemberEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => OrganizationMember)
  node!: OrganizationMember;
}

@ObjectType()
export class OrganizationMemberConnection {
  @ListSize(1)
  @Field(() => [OrganizationMemberEdge])
  edges!: OrganizationMemberEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

@ObjectType()
export class OrganizationEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => Organization)
  node!: Organization;
}

@ObjectType()
export class OrganizationConnection {
  @ListSize(1)
  @Field(() => [OrganizationEdge])
  edges!: OrganizationEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}
