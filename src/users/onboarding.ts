import type { EntityManager } from '@mikro-orm/postgresql';
import { Field, ObjectType } from 'type-graphql';
import { userView, type User } from './user.entity.js';

@ObjectType()
export class OnboardingState {
  @Field(() => Boolean)
  complete!: boolean;

  @Field(() => Date, { nullable: true, description: 'The first completion; later calls keep it.' })
  completedAt?: Date | null;
}

export const onboardingStateOf = (user: User): OnboardingState => ({
  complete: user.onboardingComplete,
  completedAt: user.onboardingCompletedAt ?? null,
});

/** Idempotent: the first completion time is kept, whatever the number of calls or their concurrency. */
export async function completeOnboarding(em: EntityManager, user: User): Promise<User> {
  const [row] = await em.execute<Record<string, unknown>[]>(
    `update users set onboarding_complete = true,
       onboarding_completed_at = coalesce(onboarding_completed_at, now()),
       updated_at = case when onboarding_complete then updated_at else now() end
     where id = ? returning *`,
    [user.id],
  );
  return row ? userView(row) : user;
}
