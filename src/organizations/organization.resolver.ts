import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root, UseMiddleware } from 'type-graphql';
import { ADMIN_ROLE, perRequest, viewerOf, type RequestContext } from '../core/context.js';
import { ListSize } from '../core/cost.js';
import { badUserInput } from '../core/errors.js';
import { DEFAULT_PAGE_SIZE } from '../core/pagination.js';
import { idOf, intInRange, searchText, text } from '../core/validation.js';
import { OwnDataOnly } from '../users/own-data.js';
import { usersById } from '../users/user-loader.js';
import { User } from '../users/user.model.js';
import { AddOrganizationMemberInput, CreateOrganizationInput, UpdateOrganizationMemberInput } from './organization.input.js';
import { Organization, OrganizationConnection, OrganizationMember, OrganizationMemberConnection } from './organization.model.js';
import {
  addMember,
  createOrganization,
  findOrganization,
  MAX_ORGANIZATIONS_PER_USER,
  membersPage,
  organizationsOf,
  organizationsPage,
  removeMember,
  updateMember,
} from './organizations.js';

/** A monthly spend limit: 0 .. 1,000,000,000 credits. */
const spendLimit = (field: string, value: number | null | undefined) => (value == null ? value : intInRange(field, value, 0, 1_000_000_000));

@Resolver(() => Organization)
export class OrganizationResolver {
  @Authorized()
  @Query(() => Organization, {
    nullable: true,
    description: 'An organization the viewer belongs to (any, for an admin); NOT_FOUND otherwise: existence is not revealed.',
  })
  organization(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return findOrganization(ctx.em, idOf('org', 'id', id), viewerOf(ctx));
  }

  @Authorized(ADMIN_ROLE)
  @Query(() => OrganizationConnection, {
    description: 'Organizations (admin), newest first. `search` matches an id exactly or part of a name (any case); omitted: all of them.',
  })
  organizations(
    @Arg('search', () => String, { nullable: true, description: 'At most 200 characters; blank is no search.' }) search: string | null,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return organizationsPage(ctx.em, viewerOf(ctx), { search: searchText('search', search), first, after });
  }

  @Authorized()
  @Mutation(() => Organization, { description: 'A new organization with its own wallet; the caller becomes its OWNER.' })
  createOrganization(@Arg('input', () => CreateOrganizationInput) input: CreateOrganizationInput, @Ctx() ctx: RequestContext) {
    return createOrganization(ctx.em, viewerOf(ctx).id, text('input.name', input.name, { max: 200 }));
  }

  @Authorized()
  @Mutation(() => OrganizationMember, { description: 'OWNER or ADMIN; only an OWNER adds an OWNER.' })
  addOrganizationMember(@Arg('input', () => AddOrganizationMemberInput) input: AddOrganizationMemberInput, @Ctx() ctx: RequestContext) {
    return addMember(ctx.em, viewerOf(ctx), {
      organizationId: idOf('org', 'input.organizationId', input.organizationId),
      userId: idOf('usr', 'input.userId', input.userId),
      role: input.role,
      monthlySpendLimit: spendLimit('input.monthlySpendLimit', input.monthlySpendLimit) ?? null,
    });
  }

  @Authorized()
  @Mutation(() => OrganizationMember, {
    description: 'OWNER or ADMIN; only an OWNER changes an OWNER or makes one, and the last OWNER stays one. `clearMonthlySpendLimit: true` removes the limit.',
  })
  updateOrganizationMember(@Arg('input', () => UpdateOrganizationMemberInput) input: UpdateOrganizationMemberInput, @Ctx() ctx: RequestContext) {
    if (input.clearMonthlySpendLimit && input.monthlySpendLimit != null) {
      throw badUserInput('input.clearMonthlySpendLimit', 'cannot be combined with a new monthlySpendLimit');
    }
    return updateMember(ctx.em, viewerOf(ctx), {
      organizationId: idOf('org', 'input.organizationId', input.organizationId),
      userId: idOf('usr', 'input.userId', input.userId),
      role: input.role,
      monthlySpendLimit: input.clearMonthlySpendLimit ? null : (spendLimit('input.monthlySpendLimit', input.monthlySpendLimit) ?? undefined),
    });
  }

  @Authorized()
  @Mutation(() => Boolean, { description: 'OWNER or ADMIN (only an OWNER removes an OWNER); anyone may remove themselves. The last OWNER stays.' })
  removeOrganizationMember(@Arg('organizationId', () => ID) organizationId: string, @Arg('userId', () => ID) userId: string, @Ctx() ctx: RequestContext) {
    return removeMember(ctx.em, viewerOf(ctx), idOf('org', 'organizationId', organizationId), idOf('usr', 'userId', userId));
  }

  @FieldResolver(() => OrganizationMemberConnection, { description: 'Current members, in the order they joined.' })
  members(
    @Root() organization: Organization,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return membersPage(ctx.em, organization.id, { first, after });
  }
}

@Resolver(() => OrganizationMember)
export class OrganizationMemberResolver {
  @FieldResolver(() => User)
  async user(@Root() member: OrganizationMember, @Ctx() ctx: RequestContext) {
    const user = await perRequest(ctx, usersById).load(member.userId);
    if (!user) throw new Error(`member ${member.userId} has no users row`);
    return user;
  }
}

@Resolver(() => User)
export class UserOrganizationsResolver {
  @ListSize(MAX_ORGANIZATIONS_PER_USER)
  @UseMiddleware(OwnDataOnly)
  @FieldResolver(() => [Organization], { description: `The user's organizations, by name (at most ${MAX_ORGANIZATIONS_PER_USER}, the most anyone can belong to).` })
  organizations(@Root() user: User, @Ctx() ctx: RequestContext) {
    return organizationsOf(ctx.em, user.id);
  }
}
