import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { buildSchema, type AuthChecker } from 'type-graphql';
import { BillingResolver } from '../billing/billing.resolver.js';
import { CreditPackResolver } from '../billing/credit-pack.resolver.js';
import { CreditsResolver } from '../credits/credits.resolver.js';
import { ReservationsResolver } from '../credits/reservations.resolver.js';
import { UsageResolver } from '../credits/usage.resolver.js';
import { UserResolver } from '../users/user.resolver.js';
import { WorkshopResolver } from '../workshops/workshop.resolver.js';
import type { Context } from './context.js';
import { forbidden, unauthenticated } from './errors.js';
import { DateTimeScalar } from './scalars.js';

const authChecker: AuthChecker<Context> = ({ context }, roles) => {
  if (!context.viewer) throw unauthenticated();
  if (roles.some((role) => !context.viewer!.roles.includes(role))) throw forbidden(`Requires the ${roles.join(', ')} role`);
  return true;
};

export const resolvers = [
  UserResolver,
  WorkshopResolver,
  CreditsResolver,
  ReservationsResolver,
  UsageResolver,
  CreditPackResolver,
  BillingResolver,
] as const;

export function buildTallySchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers,
    scalarsMap: [{ type: Date, scalar: DateTimeScalar }],
    authChecker,
    validate: false,
  });
}
