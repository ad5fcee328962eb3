import { Arg, Ctx, FieldResolver, Int, Resolver, Root, UseMiddleware } from 'type-graphql';
import { perRequest, type RequestContext } from '../core/context.js';
import { forbidden } from '../core/errors.js';
import { DEFAULT_PAGE_SIZE } from '../core/pagination.js';
import { MANAGERS } from '../organizations/organization-role.js';
import { Organization } from '../organizations/organization.model.js';
import { OwnDataOnly } from '../users/own-data.js';
import { usersById } from '../users/user-loader.js';
import { User } from '../users/user.model.js';
import { expiringGrantsPage, reservationsPage } from './account-lists.js';
import { ExpiringGrantConnection } from './credit-grant.model.js';
import { ReservationStatus } from './reservation-status.js';
import { Reservation, ReservationConnection } from './reservation.model.js';

const HOLDS = "The account's reservations, newest first; `status: HELD` for the open holds.";
const GRANTS = "The account's grants with credits left that will expire, soonest first.";

@Resolver(() => User)
export class UserAccountListsResolver {
  @UseMiddleware(OwnDataOnly)
  @FieldResolver(() => ReservationConnection, { description: HOLDS })
  reservations(
    @Root() user: User,
    @Arg('status', () => ReservationStatus, { nullable: true }) status: ReservationStatus | null,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return reservationsPage(ctx.em, user.id, { status, first, after });
  }

  @UseMiddleware(OwnDataOnly)
  @FieldResolver(() => ExpiringGrantConnection, { description: GRANTS })
  expiringGrants(
    @Root() user: User,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return expiringGrantsPage(ctx.em, user.id, { first, after });
  }
}

/** An organization's holds and grants are for those who manage its wallet (its owners and admins, and Tally's admins). */
const requireManagerOf = (organization: Organization, field: string) => {
  if (!MANAGERS.includes(organization.viewerRole)) throw forbidden(`Organization.${field} is visible to its owners and admins only`);
};

@Resolver(() => Organization)
export class OrganizationAccountListsResolver {
  @FieldResolver(() => ReservationConnection, { description: `${HOLDS} Owners and admins only.` })
  reservations(
    @Root() organization: Organization,
    @Arg('status', () => ReservationStatus, { nullable: true }) status: ReservationStatus | null,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    requireManagerOf(organization, 'reservations');
    return reservationsPage(ctx.em, organization.id, { status, first, after });
  }

  @FieldResolver(() => ExpiringGrantConnection, { description: `${GRANTS} Owners and admins only.` })
  expiringGrants(
    @Root() organization: Organization,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    requireManagerOf(organization, 'expiringGrants');
    return expiringGrantsPage(ctx.em, organization.id, { first, after });
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
