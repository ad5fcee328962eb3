import { Arg, Authorized, Ctx, ID, Int, Query, Resolver } from 'type-graphql';
import type { RequestContext } from '../core/context.js';
import { ListSize } from '../core/cost.js';
import { badUserInput } from '../core/errors.js';
import { featureKey } from '../core/validation.js';
import { readableAccount } from './account-access.js';
import { balanceAt, creditUsage, MAX_USAGE_BUCKETS, MAX_USAGE_SPAN_DAYS, UsageBucket, UsageGroup, UsageWindow } from './usage.js';

const DAY_MS = 86_400_000;

@Resolver()
export class UsageResolver {
  @Authorized()
  @Query(() => Int, {
    description:
      "The balance as it was at `time`: right after the last row that took effect by then. The viewer's own, or an organization's they belong to; an admin may name any user or organization.",
  })
  async creditBalanceAt(
    @Arg('time', () => Date) time: Date,
    @Arg('organizationId', () => ID, { nullable: true }) organizationId: string | null,
    @Arg('userId', () => ID, { nullable: true, description: 'A user other than the viewer (admin).' }) userId: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return balanceAt(ctx.em, await readableAccount(ctx, { userId, organizationId }), time);
  }

  @Authorized()
  @ListSize(MAX_USAGE_BUCKETS)
  @Query(() => [UsageBucket], {
    description:
      "Consumption in [from, to), per window and feature (and member, with groupBy: [FEATURE, MEMBER]), oldest first. The viewer's own, or an organization's they belong to; an admin may name any user or organization. Spans are bounded: 366 days of DAY windows, 5 years of WEEK, 10 years of MONTH.",
  })
  async creditUsage(
    @Arg('from', () => Date) from: Date,
    @Arg('to', () => Date) to: Date,
    @Arg('window', () => UsageWindow) window: UsageWindow,
    @Arg('feature', () => String, { nullable: true }) feature: string | null,
    @Arg('organizationId', () => ID, { nullable: true }) organizationId: string | null,
    @Arg('groupBy', () => [UsageGroup], { nullable: true, defaultValue: [UsageGroup.FEATURE] }) groupBy: UsageGroup[] | null,
    @Arg('userId', () => ID, { nullable: true, description: 'A user other than the viewer (admin).' }) userId: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    if (from >= to) throw badUserInput('to', 'must be after from');
    const maxDays = MAX_USAGE_SPAN_DAYS[window];
    if (to.getTime() - from.getTime() > maxDays * DAY_MS) {
      throw badUserInput('to', `must be at most ${maxDays} days after from for ${window.toUpperCase()} windows`);
    }
    if (groupBy && groupBy.length > 2) throw badUserInput('groupBy', 'lists FEATURE and MEMBER at most once each');
    const accountId = await readableAccount(ctx, { userId, organizationId });
    return creditUsage(ctx.em, accountId, {
      from,
      to,
      window,
      feature: feature == null ? null : featureKey('feature', feature),
      byMember: groupBy?.includes(UsageGroup.MEMBER) ?? false,
    });
  }
}
