import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root, UseMiddleware } from 'type-graphql';
import { ADMIN_ROLE, perRequest, viewerOf, type RequestContext } from '../core/context.js';
import { badUserInput } from '../core/errors.js';
import { DEFAULT_PAGE_SIZE, pageSize } from '../core/pagination.js';
import { idempotencyKey, idOf, metadataObject, optionalText, text } from '../core/validation.js';
import { Organization } from '../organizations/organization.model.js';
import { OwnDataOnly } from '../users/own-data.js';
import { usersById } from '../users/user-loader.js';
import { User } from '../users/user.model.js';
import { workshopsById } from '../workshops/workshop-loaders.js';
import { Workshop } from '../workshops/workshop.model.js';
import { targetAccount } from './account-access.js';
import { auditLedger, LedgerAudit } from './audit.js';
import { transactionsByWorkshop } from './credit-loaders.js';
import { CreditHistoryFilter, CreditTransactionConnection, creditHistory } from './credit-history.js';
import { CreditTransaction } from './credit-transaction.model.js';
import { ConsumeCreditsInput, GrantCreditsInput } from './credit.input.js';
import { clientIdempotencyKey } from './idempotency-keys.js';
import { ledgerOf } from './ledger-of.js';
import { creditAmount, spendFeature } from './spend-input.js';
import { spenderOf } from './spender.js';

const MAX_GRANT_LIFETIME_MS = 10 * 366 * 86_400_000;

function grantExpiry(expiresAt: Date | null | undefined): Date | undefined {
  if (expiresAt == null) return undefined;
  const lifetime = expiresAt.getTime() - Date.now();
  if (lifetime <= 0) throw badUserInput('input.expiresAt', 'must be in the future');
  if (lifetime > MAX_GRANT_LIFETIME_MS) throw badUserInput('input.expiresAt', 'must be at most 10 years ahead');
  return expiresAt;
}

@Resolver(() => CreditTransaction)
export class CreditsResolver {
  @Authorized()
  @Query(() => CreditTransactionConnection, { description: "The viewer's ledger, newest first in posting order." })
  creditHistory(
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => CreditHistoryFilter, { nullable: true }) filter: CreditHistoryFilter | null,
    @Ctx() ctx: RequestContext,
  ) {
    return creditHistory(ctx.em, viewerOf(ctx).id, { first, after, filter });
  }

  @Authorized()
  @Query(() => Int, { description: "The viewer's balance, read from the database now." })
  creditBalance(@Ctx() ctx: RequestContext) {
    return perRequest(ctx, ledgerOf).balanceOf(viewerOf(ctx).id);
  }

  @Authorized()
  @Mutation(() => CreditTransaction, { description: 'Spends credits once per idempotency key.' })
  consumeCredits(@Arg('input', () => ConsumeCreditsInput) input: ConsumeCreditsInput, @Ctx() ctx: RequestContext) {
    const organizationId = input.organizationId == null ? null : idOf('org', 'input.organizationId', input.organizationId);
    return perRequest(ctx, ledgerOf).consume(spenderOf(viewerOf(ctx).id, organizationId), {
      amount: creditAmount('input.amount', input.amount),
      feature: spendFeature('input.feature', input.feature),
      idempotencyKey: clientIdempotencyKey('input.idempotencyKey', input.idempotencyKey),
      description: optionalText('input.description', input.description, 500),
      workshopId: input.workshopId == null ? undefined : idOf('ws', 'input.workshopId', input.workshopId),
      metadata: metadataObject('input.metadata', input.metadata),
    });
  }

  @Authorized()
  @Mutation(() => CreditTransaction, { description: 'Charges WORKSHOP_CREDIT_COST once per workshop; later calls return that charge.' })
  consumeWorkshopCredit(@Arg('workshopId', () => ID) workshopId: string, @Ctx() ctx: RequestContext) {
    return perRequest(ctx, ledgerOf).chargeWorkshop(viewerOf(ctx).id, idOf('ws', 'workshopId', workshopId));
  }

  @Authorized(ADMIN_ROLE)
  @Mutation(() => CreditTransaction, {
    description: 'Adds credits to a user or an organization (admin), optionally expiring at `expiresAt`. Idempotent per account and key.',
  })
  grantCredits(@Arg('input', () => GrantCreditsInput) input: GrantCreditsInput, @Ctx() ctx: RequestContext) {
    return perRequest(ctx, ledgerOf).grant(
      {
        accountId: targetAccount(input.userId, input.organizationId),
        amount: creditAmount('input.amount', input.amount),
        reason: text('input.reason', input.reason, { max: 500 }),
        idempotencyKey: idempotencyKey('input.idempotencyKey', input.idempotencyKey),
        expiresAt: grantExpiry(input.expiresAt),
      },
      viewerOf(ctx),
    );
  }

  @Authorized(ADMIN_ROLE)
  @Query(() => LedgerAudit, { description: 'Recomputes the ledger invariants (admin): one account (a user or an organization), or all of them.' })
  auditLedger(
    @Arg('userId', () => ID, { nullable: true }) userId: string | null,
    @Arg('organizationId', () => ID, { nullable: true }) organizationId: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    const accountId = userId == null && organizationId == null ? null : targetAccount(userId, organizationId, '');
    return auditLedger(ctx.em, accountId);
  }

  @FieldResolver(() => Workshop, { nullable: true })
  workshop(@Root() transaction: CreditTransaction, @Ctx() ctx: RequestContext) {
    return transaction.workshopId ? perRequest(ctx, workshopsById).load({ accountId: transaction.accountId, id: transaction.workshopId }) : null;
  }
}

@Resolver(() => User)
export class UserCreditsResolver {
  @UseMiddleware(OwnDataOnly)
  @FieldResolver(() => CreditTransactionConnection, { description: "The user's personal ledger, newest first." })
  creditTransactions(
    @Root() user: User,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => CreditHistoryFilter, { nullable: true }) filter: CreditHistoryFilter | null,
    @Ctx() ctx: RequestContext,
  ) {
    return creditHistory(ctx.em, user.id, { first, after, filter });
  }
}

@Resolver(() => Organization)
export class OrganizationCreditsResolver {
  @FieldResolver(() => CreditTransactionConnection, { description: "The organization's ledger, newest first in posting order." })
  creditHistory(
    @Root() organization: Organization,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Arg('filter', () => CreditHistoryFilter, { nullable: true }) filter: CreditHistoryFilter | null,
    @Ctx() ctx: RequestContext,
  ) {
    return creditHistory(ctx.em, organization.id, { first, after, filter });
  }
}

@Resolver(() => CreditTransaction)
export class CreditActorResolver {
  @FieldResolver(() => User, {
    nullable: true,
    description: 'Who made it happen: the member (or user) whose request wrote it; the admin of a grant or refund; null for webhooks and jobs.',
  })
  actor(@Root() transaction: CreditTransaction, @Ctx() ctx: RequestContext) {
    return transaction.actorId ? perRequest(ctx, usersById).load(transaction.actorId) : null;
  }
}

@Resolver(() => Workshop)
export class WorkshopCreditsResolver {
  @FieldResolver(() => [CreditTransaction], { description: "The workshop's ledger rows, newest first: at most `first` (1..100, default 20)." })
  creditTransactions(
    @Root() workshop: Workshop,
    @Arg('first', () => Int, { nullable: true, defaultValue: DEFAULT_PAGE_SIZE }) first: number | null,
    @Ctx() ctx: RequestContext,
  ) {
    return perRequest(ctx, transactionsByWorkshop).load({ workshopId: workshop.id, first: pageSize(first) });
  }
}
