import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { CreditHistoryFilter, CreditTransactionConnection, creditHistory } from '../credits/credit-history.js';
import { DEFAULT_PAGE_SIZE } from '../graphql/pagination.js';
import { viewerOf, type Context } from '../graphql/context.js';
import { idOf } from '../graphql/validation.js';
import { WorkshopConnection } from '../workshops/workshop-list.js';
import { completeOnboarding, OnboardingState, onboardingStateOf } from './onboarding.js';
import { ADMIN_ROLE, User } from './user.entity.js';

@Resolver(() => User)
export class UserResolver {
  @Authorized()
  @Query(() => User, { description: 'The authenticated user.' })
  me(@Ctx() ctx: Context) {
    return viewerOf(ctx);
  }

  @Authorized()
  @Query(() => Int, { description: "The viewer's balance, read from the database now." })
  creditBalance(@Ctx() ctx: Context) {
    return ctx.ledger.balanceOf(viewerOf(ctx).id);
  }

  @Authorized()
  @Query(() => OnboardingState)
  onboardingState(@Ctx() ctx: Context) {
    return onboardingStateOf(viewerOf(ctx));
  }

  @Authorized()
  @Mutation(() => User)
  completeOnboarding(@Ctx() ctx: Context) {
    return completeOnboarding(ctx.em, viewerOf(ctx));
  }

  @Authorized(ADMIN_ROLE)
  @Query(() => User, { nullable: true, description: 'Any user, by id (admin).' })
  user(@Arg('id', () => ID) id: string, @Ctx() ctx: Context) {
    return ctx.em.findOne(User, { id: idOf('usr', 'id', id) });
  }

  @FieldResolver(() => WorkshopConnection)
  workshops(
    @Root() user: User,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: Context,
  ) {
    return ctx.loaders.workshopPages.load({ userId: user.id, first, after });
  }

  @FieldResolver(() => CreditTransactionConnection)
  creditTransactions(
    @Root() user: User,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => CreditHistoryFilter, { nullable: true }) filter: CreditHistoryFilter | null,
    @Ctx() ctx: Context,
  ) {
    return creditHistory(ctx.em, user.id, { first, after, filter });
  }
}
