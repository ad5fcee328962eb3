import { Arg, Authorized, Ctx, Field, FieldResolver, ID, InputType, Int, Mutation, Resolver, Root, UseMiddleware } from 'type-graphql';
import type { RequestContext } from '../core/context.js';
import { Organization } from '../organizations/organization.model.js';
import { OwnDataOnly } from '../users/own-data.js';
import { User } from '../users/user.model.js';
import { managedAccount } from './account-access.js';
import { LowBalanceAlert, lowBalanceAlertOf, setLowBalanceThreshold } from './low-balance.js';

@InputType()
export class SetLowBalanceThresholdInput {
  @Field(() => ID, { nullable: true, description: "This organization's wallet (its OWNER or ADMIN only). Omitted: the viewer's own." })
  organizationId?: string | null;

  @Field(() => Int, { nullable: true, description: 'Credits; null turns the alert off.' })
  threshold?: number | null;
}

@Resolver()
export class LowBalanceResolver {
  @Authorized()
  @Mutation(() => LowBalanceAlert, { description: "Sets the account's low-balance threshold (null: off); balance.low and balance.depleted are events (see webhooks)." })
  async setLowBalanceThreshold(@Arg('input', () => SetLowBalanceThresholdInput) input: SetLowBalanceThresholdInput, @Ctx() ctx: RequestContext) {
    const accountId = await managedAccount(ctx, input.organizationId);
    return setLowBalanceThreshold(ctx.em, accountId, input.threshold ?? null);
  }
}

@Resolver(() => User)
export class UserLowBalanceResolver {
  @UseMiddleware(OwnDataOnly)
  @FieldResolver(() => LowBalanceAlert)
  lowBalanceAlert(@Root() user: User, @Ctx() ctx: RequestContext) {
    return lowBalanceAlertOf(ctx.em, user.id);
  }
}

@Resolver(() => Organization)
export class OrganizationLowBalanceResolver {
  @FieldResolver(() => LowBalanceAlert)
  lowBalanceAlert(@Root() organization: Organization, @Ctx() ctx: RequestContext) {
    return lowBalanceAlertOf(ctx.em, organization.id);
  }
}
