import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root, UseMiddleware } from 'type-graphql';
import { perRequest, viewerOf, type RequestContext } from '../core/context.js';
import { DEFAULT_PAGE_SIZE } from '../core/pagination.js';
import { idOf, text } from '../core/validation.js';
import { roleIn } from '../organizations/organizations.js';
import { OwnDataOnly } from '../users/own-data.js';
import { User } from '../users/user.model.js';
import { WorkshopConnection } from './workshop-list.js';
import { workshopPages } from './workshop-loaders.js';
import { Workshop } from './workshop.model.js';
import { CreateWorkshopInput } from './workshop.input.js';
import { createWorkshop, ownedWorkshop } from './workshops.js';

@Resolver(() => Workshop)
export class WorkshopResolver {
  @Authorized()
  @Query(() => WorkshopConnection, { description: "The viewer's workshops, newest first." })
  workshops(
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return perRequest(ctx, workshopPages).load({ userId: viewerOf(ctx).id, first, after });
  }

  @Authorized()
  @Query(() => Workshop, {
    nullable: true,
    description: "One of the viewer's workshops; NOT_FOUND when the viewer has none with this id (another user's included).",
  })
  workshop(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return ownedWorkshop(ctx.em, viewerOf(ctx).id, idOf('ws', 'id', id));
  }

  @Authorized()
  @Mutation(() => Workshop)
  async createWorkshop(@Arg('input', () => CreateWorkshopInput) input: CreateWorkshopInput, @Ctx() ctx: RequestContext) {
    const viewer = viewerOf(ctx);
    const title = text('input.title', input.title, { max: 200 });
    let accountId = viewer.id;
    if (input.organizationId != null) {
      accountId = idOf('org', 'input.organizationId', input.organizationId);
      await roleIn(ctx.em, accountId, viewer);
    }
    return createWorkshop(ctx.em, viewer.id, { title, accountId }, ctx.services.config.limits.workshops);
  }
}

@Resolver(() => User)
export class UserWorkshopsResolver {
  @UseMiddleware(OwnDataOnly)
  @FieldResolver(() => WorkshopConnection)
  workshops(
    @Root() user: User,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return perRequest(ctx, workshopPages).load({ userId: user.id, first, after });
  }
}
