import type { PgTimestamp } from '../core/date-time.js';
import type { Row } from '../database/rows.js';
import type { SubscriptionStatus } from './subscription-status.js';

/** An account's columns that users' and organizations' rows carry (aliased `a`): credits, plan and subscription. */
export const ACCOUNT_PLAN_COLUMNS = `a.credit_balance, a.held_credits, a.expiring_credits, a.plan_tier, a.stripe_customer_id,
    a.scheduled_plan_tier, a.subscription_status, a.current_period_end, a.cancel_at_period_end`;

export interface AccountPlan {
  planTier: string;
  scheduledPlanTier: string | null;
  stripeCustomerId: string | null;
  subscriptionStatus: SubscriptionStatus | null;
  currentPeriodEnd: PgTimestamp | null;
  cancelAtPeriodEnd: boolean;
}

const text = (value: unknown) => (value === null || value === undefined ? null : String(value));

/** The plan and subscription of a row read with ACCOUNT_PLAN_COLUMNS. */
export const accountPlan = (row: Row): AccountPlan => ({
  planTier: String(row.plan_tier),
  scheduledPlanTier: text(row.scheduled_plan_tier),
  stripeCustomerId: text(row.stripe_customer_id),
  subscriptionStatus: text(row.subscription_status) as SubscriptionStatus | null,
  currentPeriodEnd: text(row.current_period_end),
  cancelAtPeriodEnd: row.cancel_at_period_end === true,
});
