import { Ctx, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../core/context.js';
import { ListSize } from '../core/cost.js';
import { activePacks, CreditPack, MAX_LISTED_PACKS } from './credit-pack.model.js';

@Resolver(() => CreditPack)
export class CreditPackResolver {
  @ListSize(MAX_LISTED_PACKS)
  @Query(() => [CreditPack], { description: 'The active credit packs, smallest first (at most 100). Public: no token needed.' })
  creditPacks(@Ctx() ctx: RequestContext) {
    return activePacks(ctx.em);
  }
}
