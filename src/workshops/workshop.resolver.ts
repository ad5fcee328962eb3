import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { CreditTransaction } from '../credits/credit-transaction.entity.js';
import { DEFAULT_PAGE_SIZE } from '../graphql/pagination.js';
import { viewerOf, type Context } from '../graphql/context.js';
import { notFound } from '../graphql/errors.js';
import { idOf, text } from '../graphql/validation.js';
import { User } from '../users/user.entity.js';
import { Workshop } from './workshop.entity.js';
import { CreateWorkshopInput } from './workshop.input.js';
import { listWorkshops, WorkshopConnection } from './workshop-list.js';

@Resolver(() => Workshop)
export class WorkshopResolver {
  @Authorized()
  @Query(() => WorkshopConnection, { description: "The viewer's workshops, newest first." })
  workshops(
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: Context,
  ) {
    return listWorkshops(ctx.em, viewerOf(ctx).id, { first, after });
  }

  @Authorized()
  @Query(() => Workshop, {
    nullable: true,
    description: "One of the viewer's workshops; NOT_FOUND when the viewer has none with this id (another user's included).",
  })
  async workshop(@Arg('id', () => ID) id: string, @Ctx() ctx: Context) {
    const workshop = await ctx.em.findOne(Workshop, { id: idOf('ws', 'id', id), owner: viewerOf(ctx).id, deletedAt: null });
    if (!workshop) throw notFound('Workshop', id);
    return workshop;
  }

  @Authorized()
  @Mutation(() => Workshop)
  async createWorkshop(@Arg('input', () => CreateWorkshopInput) input: CreateWorkshopInput, @Ctx() ctx: Context) {
    const workshop = ctx.em.create(Workshop, { owner: ctx.em.getReference(User, viewerOf(ctx).id), title: text('input.title', input.title, { max: 200 }) });
    await ctx.em.flush();
    return workshop;
  }

  @Authorized()
  @Mutation(() => CreditTransaction, { description: 'Charges WORKSHOP_CREDIT_COST once per workshop; later calls return that charge.' })
  consumeWorkshopCredit(@Arg('workshopId', () => ID) workshopId: string, @Ctx() ctx: Context) {
    return ctx.ledger.chargeWorkshop(viewerOf(ctx), idOf('ws', 'workshopId', workshopId));
  }

  @FieldResolver(() => [CreditTransaction])
  creditTransactions(@Root() workshop: Workshop, @Ctx() ctx: Context) {
    return ctx.loaders.transactionsByWorkshop.load(workshop.id);
  }
}
