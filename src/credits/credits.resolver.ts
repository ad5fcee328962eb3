import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { DEFAULT_PAGE_SIZE } from '../graphql/pagination.js';
import { viewerOf, type Context } from '../graphql/context.js';
import { badUserInput } from '../graphql/errors.js';
import { idempotencyKey, idOf, metadataObject, optionalText, text } from '../graphql/validation.js';
import { ADMIN_ROLE } from '../users/user.entity.js';
import { Workshop } from '../workshops/workshop.entity.js';
import { clientIdempotencyKey } from './idempotency-keys.js';
import { auditLedger, LedgerAudit } from './audit.js';
import { CreditHistoryFilter, CreditTransactionConnection, creditHistory } from './credit-history.js';
import { CreditTransaction } from './credit-transaction.entity.js';
import { ConsumeCreditsInput, GrantCreditsInput } from './credit.input.js';
import { creditAmount, spendFeature } from './spend-input.js';

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
    @Ctx() ctx: Context,
  ) {
    return creditHistory(ctx.em, viewerOf(ctx).id, { first, after, filter });
  }

  @Authorized()
  @Mutation(() => CreditTransaction, { description: 'Spends credits once per idempotency key.' })
  consumeCredits(@Arg('input', () => ConsumeCreditsInput) input: ConsumeCreditsInput, @Ctx() ctx: Context) {
    return ctx.ledger.consume(viewerOf(ctx), {
      amount: creditAmount('input.amount', input.amount),
      feature: spendFeature('input.feature', input.feature),
      idempotencyKey: clientIdempotencyKey('input.idempotencyKey', input.idempotencyKey),
      description: optionalText('input.description', input.description, 500),
      workshopId: input.workshopId == null ? undefined : idOf('ws', 'input.workshopId', input.workshopId),
      metadata: metadataObject('input.metadata', input.metadata),
    });
  }

  @Authorized(ADMIN_ROLE)
  @Mutation(() => CreditTransaction, {
    description: 'Adds credits to a user (admin), optionally expiring at `expiresAt`. Idempotent per user and key.',
  })
  grantCredits(@Arg('input', () => GrantCreditsInput) input: GrantCreditsInput, @Ctx() ctx: Context) {
    return ctx.ledger.grant(
      {
        userId: idOf('usr', 'input.userId', input.userId),
        amount: creditAmount('input.amount', input.amount),
        reason: text('input.reason', input.reason, { max: 500 }),
        idempotencyKey: idempotencyKey('input.idempotencyKey', input.idempotencyKey),
        expiresAt: grantExpiry(input.expiresAt),
      },
      viewerOf(ctx),
    );
  }

  @Authorized(ADMIN_ROLE)
  @Query(() => LedgerAudit, { description: 'Recomputes the ledger invariants (admin); all users when userId is omitted.' })
  auditLedger(@Arg('userId', () => ID, { nullable: true }) userId: string | null, @Ctx() ctx: Context) {
    return auditLedger(ctx.em, userId == null ? null : idOf('usr', 'userId', userId));
  }

  @FieldResolver(() => Workshop, { nullable: true })
  workshop(@Root() transaction: CreditTransaction, @Ctx() ctx: Context) {
    return transaction.workshop ? ctx.loaders.workshopById.load(transaction.workshop.id) : null;
  }
}
