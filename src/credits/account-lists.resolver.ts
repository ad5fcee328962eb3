import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from 'type-graphql';
import { perRequest, type RequestContext } from '../core/context.js';
import { DEFAULT_PAGE_SIZE } from '../core/pagination.js';
import { usersById } from '../users/user-loader.js';
import { User } from '../users/user.model.js';
import { managedOrOwnAccount } from './account-access.js';
import { expiringGrantsPage, reservationsPage } from './account-lists.js';
import { ExpiringGrantConnection } from './credit-grant.model.js';
import { ReservationStatus } from './reservation-status.js';
import { Reservation, ReservationConnection } from './reservation.model.js';

const WHOSE =
  "The viewer's own; an organization's for its owners and admins; any user's or organization's for a Tally admin.";

/**
 * An account's holds and expiring grants, as lists of their own (root fields taking the account, like
 * creditBalanceAt and creditUsage) rather than fields of User and Organization.
 */
@Resolver()
export class AccountListsResolver {
  @Authorized()
  @Query(() => ReservationConnection, { description: `An account's reservations, newest first; \`status: HELD\` for the open holds. ${WHOSE}` })
  async reservations(
    @Arg('userId', () => ID, { nullable: true }) userId: string | null,
    @Arg('organizationId', () => ID, { nullable: true }) organizationId: string | null,
    @Arg('status', () => ReservationStatus, { nullable: true }) status: ReservationStatus | null,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return reservationsPage(ctx.em, await managedOrOwnAccount(ctx, { userId, organizationId }), { status, first, after });
  }

  @Authorized()
  @Query(() => ExpiringGrantConnection, { description: `An account's grants with credits left that will expire, soonest first. ${WHOSE}` })
  async expiringGrants(
    @Arg('userId', () => ID, { nullable: true }) userId: string | null,
    @Arg('organizationId', () => ID, { nullable: true }) organizationId: string | null,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return expiringGrantsPage(ctx.em, await managedOrOwnAccount(ctx, { userId, organizationId }), { first, after });
  }
}

@Resolver(() => Reservation)
export class ReservationPeopleResolver {
  @FieldResolver(() => User, { nullable: true, description: 'Who reserved: the user, or on an organization the member whose limit it counts against.' })
  actor(@Root() reservation: Reservation, @Ctx() ctx: RequestContext) {
    return reservation.actorId ? perRequest(ctx, usersById).load(reservation.actorId) : null;
  }

  @FieldResolver(() => User, { nullable: true, description: 'Who captured or released it; null for an expiry.' })
  resolvedBy(@Root() reservation: Reservation, @Ctx() ctx: RequestContext) {
    return reservation.resolvedById ? perRequest(ctx, usersById).load(reservation.resolvedById) : null;
  }
}
