import { Arg, Authorized, Ctx, Int, Query, Resolver } from 'type-graphql';
import { viewerOf, type RequestContext } from '../core/context.js';
import { badUserInput } from '../core/errors.js';
import { featureKey } from '../core/validation.js';
import { ListSize } from '../core/cost.js';
import { balanceAt, creditUsage, MAX_USAGE_BUCKETS, MAX_USAGE_SPAN_DAYS, UsageBucket, UsageWindow } from './usage.js';

const DAY_MS = 86_400_000;

@Resolver()
export class UsageResolver {
  @Authorized()
  @Query(() => Int, { description: "The viewer's balance as it was at `time`: right after the last row that took effect by then." })
  creditBalanceAt(@Arg('time', () => Date) time: Date, @Ctx() ctx: RequestContext) {
    return balanceAt(ctx.em, viewerOf(ctx).id, time);
  }

  @Authorized()
  @ListSize(MAX_USAGE_BUCKETS)
  @Query(() => [UsageBucket], {
    description: "The viewer's consumption in [from, to), per window and feature, oldest first. Spans are bounded: 366 days of DAY windows, 5 years of WEEK, 10 years of MONTH.",
  })
  creditUsage(
    @Arg('from', () => Date) from: Date,
    @Arg('to', () => Date) to: Date,
    @Arg('window', () => UsageWindow) window: UsageWindow,
    @Arg('feature', () => String, { nullable: true }) feature: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    if (from >= to) throw badUserInput('to', 'must be after from');
    const maxDays = MAX_USAGE_SPAN_DAYS[window];
    if (to.getTime() - from.getTime() > maxDays * DAY_MS) {
      throw badUserInput('to', `must be at most ${maxDays} days after from for ${window.toUpperCase()} windows`);
    }
    return creditUsage(ctx.em, viewerOf(ctx).id, { from, to, window, feature: feature == null ? null : featureKey('feature', feature) });
  }
}
