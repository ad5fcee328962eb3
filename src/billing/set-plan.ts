import type { EntityManager } from '@mikro-orm/postgresql';
import { notFound, subscriptionIsLive } from '../core/errors.js';
import type { CreditTransaction } from '../credits/credit-transaction.model.js';
import type { Ledger } from '../credits/ledger.js';
import type { Row } from '../database/rows.js';
import { findPlan } from './plan.model.js';
import { LIVE_STATUSES } from './subscriptions.js';

export interface SetPlanRequest {
  accountId: string;
  planId: string;
  reason: string;
  adminId: string;
}

export interface PlanChangeResult {
  accountId: string;
  planTier: string;
  previousPlanTier: string;
  transaction: CreditTransaction | null;
}

/**
 * An admin puts an account on a plan (comped, or sold outside Stripe): the plan tier changes and a PLAN_CHANGE row
 * records the admin and the reason. Refused while a Stripe subscription is live: Stripe's events would undo it, so
 * the change belongs in the billing portal. An account without a subscription gets the plan's credits each calendar
 * month from the sweeper (its allowance).
 */
export async function setPlan(em: EntityManager, ledger: Ledger, request: SetPlanRequest): Promise<PlanChangeResult> {
  const plan = await findPlan(em, request.planId);
  if (!plan) throw notFound('Plan', request.planId);
  return em.transactional(async (tx) => {
    const [account] = await tx.execute<Row[]>(
      `select a.plan_tier, a.subscription_status from accounts a left join users u on u.id = a.id
       where a.id = ? and u.deleted_at is null for no key update of a`,
      [request.accountId],
    );
    if (!account) throw notFound(request.accountId.startsWith('org_') ? 'Organization' : 'User', request.accountId);
    const status = account.subscription_status == null ? null : String(account.subscription_status);
    if (status && LIVE_STATUSES.includes(status)) throw subscriptionIsLive(status, 'change the plan');
    const previousPlanTier = String(account.plan_tier);
    const transaction = await ledger.changePlan(tx, {
      accountId: request.accountId,
      planId: plan.id,
      actorId: request.adminId,
      reason: request.reason,
      metadata: { setBy: request.adminId },
    });
    await tx.execute('update accounts set scheduled_plan_tier = null where id = ? and scheduled_plan_tier is not null', [request.accountId]);
    return { accountId: request.accountId, planTier: plan.id, previousPlanTier, transaction: transaction ?? null };
  });
}
