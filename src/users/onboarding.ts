import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, ObjectType } from 'type-graphql';
import { DateTimeScalar, type PgTimestamp } from '../core/date-time.js';
import { notFound } from '../core/errors.js';
import type { Row } from '../database/rows.js';
import { toUser, type User } from './user.model.js';
import { ACCOUNT_PLAN_COLUMNS } from '../accounts/account-plan.js';

@ObjectType()
export class OnboardingState {
  @Field(() => Boolean)
  complete!: boolean;

  @Field(() => DateTimeScalar, { nullable: true, description: 'The first completion; later calls keep it.' })
  completedAt!: PgTimestamp | null;
}

export const onboardingStateOf = (user: User): OnboardingState => ({
  complete: user.onboardingComplete,
  completedAt: user.onboardingCompletedAt,
});

/** Idempotent: the first completion time is kept, whatever the number of calls or their concurrency. */
export async function completeOnboarding(em: EntityManager, userId: string, roles: readonly string[]): Promise<User> {
  const [row] = await em.execute<Row[]>(
    `with done as (
       update users set onboarding_complete = true,
         onboarding_completed_at = coalesce(onboarding_completed_at, now()),
         updated_at = case when onboarding_complete then updated_at else now() end
       where id = ? returning *
     )
     select done.*, ${ACCOUNT_PLAN_COLUMNS}
     from done join accounts a on a.id = done.id`,
    [userId],
  );
  if (!row) throw notFound('User', userId);
  return toUser(row, roles);
}
