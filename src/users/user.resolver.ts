import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { ADMIN_ROLE, perRequest, viewerOf, type RequestContext } from '../core/context.js';
import { idOf } from '../core/validation.js';
import { completeOnboarding, OnboardingState, onboardingStateOf } from './onboarding.js';
import { usersById } from './user-loader.js';
import { User } from './user.model.js';

async function viewerUser(ctx: RequestContext): Promise<User> {
  const viewer = viewerOf(ctx);
  const user = await perRequest(ctx, usersById).load(viewer.id);
  if (!user) throw new Error(`the viewer ${viewer.id} has no users row`);
  return user;
}

@Resolver(() => User)
export class UserResolver {
  @Authorized()
  @Query(() => User, { description: 'The authenticated user.' })
  me(@Ctx() ctx: RequestContext) {
    return viewerUser(ctx);
  }

  @Authorized()
  @Query(() => OnboardingState)
  async onboardingState(@Ctx() ctx: RequestContext) {
    return onboardingStateOf(await viewerUser(ctx));
  }

  @Authorized()
  @Mutation(() => User)
  completeOnboarding(@Ctx() ctx: RequestContext) {
    const viewer = viewerOf(ctx);
    return completeOnboarding(ctx.em, viewer.id, viewer.roles);
  }

  @Authorized(ADMIN_ROLE)
  @Query(() => User, { nullable: true, description: 'Any user, by id (admin).' })
  user(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return perRequest(ctx, usersById).load(idOf('usr', 'id', id));
  }
}
