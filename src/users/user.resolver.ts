import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from 'type-graphql';
import { ADMIN_ROLE, perRequest, viewerOf, type RequestContext } from '../core/context.js';
import { DEFAULT_PAGE_SIZE } from '../core/pagination.js';
import { idOf, searchText } from '../core/validation.js';
import { completeOnboarding, OnboardingState, onboardingStateOf } from './onboarding.js';
import { UserConnection, usersPage } from './user-list.js';
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

  @Authorized(ADMIN_ROLE)
  @Query(() => UserConnection, {
    description:
      'Users (admin), newest first, deleted ones left out. `search` matches an id or token subject exactly, or part of an email or name (any case); omitted: everyone.',
  })
  users(
    @Arg('search', () => String, { nullable: true, description: 'At most 200 characters; blank is no search.' }) search: string | null,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return usersPage(ctx.em, { search: searchText('search', search), first, after }, ctx.services.config.adminUserIds);
  }
}
