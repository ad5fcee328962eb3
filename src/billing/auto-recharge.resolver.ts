import { Arg, Authorized, Ctx, Field, FieldResolver, ID, InputType, Int, Mutation, Resolver, Root, UseMiddleware } from 'type-graphql';
import type { RequestContext } from '../core/context.js';
import { text } from '../core/validation.js';
import { managedAccount } from '../credits/account-access.js';
import { Organization } from '../organizations/organization.model.js';
import { OwnDataOnly } from '../users/own-data.js';
import { User } from '../users/user.model.js';
import { autoRechargeOf, configureAutoRecharge } from './auto-recharge.js';
import { AutoRecharge } from './auto-recharge.model.js';

@InputType()
export class ConfigureAutoRechargeInput {
  @Field(() => ID, { nullable: true, description: "This organization's wallet (its OWNER or ADMIN only). Omitted: the viewer's own." })
  organizationId?: string | null;

  @Field(() => Boolean)
  enabled!: boolean;

  @Field(() => Int, { nullable: true, description: 'A recharge starts when a debit leaves the spendable balance under this. Omitted: unchanged.' })
  threshold?: number | null;

  @Field(() => ID, { nullable: true, description: 'The credit pack each recharge buys. Omitted: unchanged.' })
  packId?: string | null;

  @Field(() => Int, { nullable: true, description: 'Recharges per UTC calendar month, 1..100. Omitted: unchanged.' })
  monthlyLimit?: number | null;
}

@Resolver()
export class AutoRechargeResolver {
  @Authorized()
  @Mutation(() => AutoRecharge, {
    description: 'Turns auto-recharge on or off and sets it. On needs a card saved by a Checkout purchase (PAYMENT_METHOD_REQUIRED otherwise).',
  })
  async configureAutoRecharge(@Arg('input', () => ConfigureAutoRechargeInput) input: ConfigureAutoRechargeInput, @Ctx() ctx: RequestContext) {
    const accountId = await managedAccount(ctx, input.organizationId);
    return configureAutoRecharge(
      { em: ctx.em, stripe: ctx.services.stripe, log: ctx.log },
      {
        accountId,
        enabled: input.enabled,
        threshold: input.threshold,
        packId: input.packId == null ? null : text('input.packId', input.packId, { max: 100 }),
        monthlyLimit: input.monthlyLimit,
      },
    );
  }
}

@Resolver(() => User)
export class UserAutoRechargeResolver {
  @UseMiddleware(OwnDataOnly)
  @FieldResolver(() => AutoRecharge)
  autoRecharge(@Root() user: User, @Ctx() ctx: RequestContext) {
    return autoRechargeOf(ctx.em, user.id);
  }
}

@Resolver(() => Organization)
export class OrganizationAutoRechargeResolver {
  @FieldResolver(() => AutoRecharge)
  autoRecharge(@Root() organization: Organization, @Ctx() ctx: RequestContext) {
    return autoRechargeOf(ctx.em, organization.id);
  }
}
