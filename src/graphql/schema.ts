import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema, type PubSub, type AuthChecker } from 'type-graphql';
import { BillingResolver } from '../billing/billing.resolver.js';
import { CreditPackResolver } from '../billing/credit-pack.resolver.js';
import type { RequestContext } from '../core/context.js';
import { DateTimeScalar } from '../core/date-time.js';
import { forbidden, unauthenticated } from '../core/errors.js';
import { OrganizationAllowanceResolver, UserAllowanceResolver } from '../credits/allowance.resolver.js';
import { BalanceUpdatesResolver } from '../credits/balance-updates.resolver.js';
import { LowBalanceResolver, OrganizationLowBalanceResolver, UserLowBalanceResolver } from '../credits/low-balance.resolver.js';
import { AutoRechargeResolver, OrganizationAutoRechargeResolver, UserAutoRechargeResolver } from '../billing/auto-recharge.resolver.js';
import { CreditActorResolver, CreditsResolver, OrganizationCreditsResolver, UserCreditsResolver, WorkshopCreditsResolver } from '../credits/credits.resolver.js';
import { OrganizationMemberResolver, OrganizationResolver, UserOrganizationsResolver } from '../organizations/organization.resolver.js';
import { AccountListsResolver, ReservationPeopleResolver } from '../credits/account-lists.resolver.js';
import { ReservationsResolver } from '../credits/reservations.resolver.js';
import { UsageResolver } from '../credits/usage.resolver.js';
import { UserResolver } from '../users/user.resolver.js';
import { WebhooksResolver } from '../events/webhooks.resolver.js';
import { UserWorkshopsResolver, WorkshopResolver } from '../workshops/workshop.resolver.js';
import { toGraphQLError } from './errors.js';

const authChecker: AuthChecker<RequestContext> = ({ context }, roles) => {
  if (!context.viewer) throw toGraphQLError(unauthenticated());
  if (roles.some((role) => !context.viewer!.roles.includes(role))) throw toGraphQLError(forbidden(`Requires the ${roles.join(', ')} role`));
  return true;
};

export const resolvers = [
  UserResolver,
  OrganizationResolver,
  OrganizationMemberResolver,
  UserOrganizationsResolver,
  WorkshopResolver,
  UserWorkshopsResolver,
  CreditsResolver,
  CreditActorResolver,
  OrganizationCreditsResolver,
  UserCreditsResolver,
  WorkshopCreditsResolver,
  ReservationsResolver,
  ReservationPeopleResolver,
  AccountListsResolver,
  UsageResolver,
  UserAllowanceResolver,
  BalanceUpdatesResolver,
  OrganizationAllowanceResolver,
  LowBalanceResolver,
  UserLowBalanceResolver,
  OrganizationLowBalanceResolver,
  AutoRechargeResolver,
  UserAutoRechargeResolver,
  OrganizationAutoRechargeResolver,
  CreditPackResolver,
  BillingResolver,
  WebhooksResolver,
] as const;

/**
 * Subscriptions bring their own source (creditBalanceChanged reads the outbox's live events), so type-graphql's
 * topic-based PubSub has nothing to carry; it still wants one to build a schema with subscriptions.
 */
const noTopics: PubSub = {
  publish() {
    throw new Error('Tally publishes nothing through type-graphql topics');
  },
  subscribe() {
    throw new Error('Tally subscriptions read live events, not type-graphql topics');
  },
};

export function buildTallySchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers,
    scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
    authChecker,
    validate: false,
    pubSub: noTopics,
  });
}
