import { Arg, Ctx, ID, Resolver, Root, Subscription } from 'type-graphql';
import type { RequestContext } from '../core/context.js';
import { serviceUnavailable } from '../core/errors.js';
import { readableAccount } from './account-access.js';
import { BalanceUpdate, balanceUpdates } from './balance-updates.js';

@Resolver()
export class BalanceUpdatesResolver {
  @Subscription(() => BalanceUpdate, {
    description:
      "The viewer's (or an organization's) balance after each change, live, over WebSocket (graphql-ws on /graphql, the token in connection_init).",
    subscribe: async ({ args, context: untyped }) => {
      const context = untyped as RequestContext;
      if (!context.services.liveEvents) throw serviceUnavailable();
      const organizationId = (args as { organizationId?: string | null }).organizationId;
      const accountId = await readableAccount(context, { organizationId });
      const stillReadable = async () => {
        if (organizationId != null) await readableAccount({ ...context, em: context.services.orm.em.fork() }, { organizationId });
      };
      return balanceUpdates(context, accountId, stillReadable);
    },
  })
  creditBalanceChanged(
    @Root() update: BalanceUpdate,
    @Arg('organizationId', () => ID, { nullable: true, description: "An organization's wallet (any member). Omitted: the viewer's own." }) _organizationId: string | null,
    @Ctx() _ctx: RequestContext,
  ): BalanceUpdate {
    return update;
  }
}
