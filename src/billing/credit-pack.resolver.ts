import { Ctx, Query, Resolver } from 'type-graphql';
import type { Context } from '../graphql/context.js';
import { CreditPack } from './credit-pack.entity.js';

@Resolver(() => CreditPack)
export class CreditPackResolver {
  @Query(() => [CreditPack], { description: 'The active credit packs, smallest first. Public: no token needed.' })
  creditPacks(@Ctx() ctx: Context) {
    return ctx.em.find(CreditPack, { active: true }, { orderBy: [{ credits: 'asc' }, { id: 'asc' }] });
  }
}
