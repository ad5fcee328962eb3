import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { isAdmin, perRequest, viewerOf, type RequestContext } from '../core/context.js';
import { idempotencyKey, idOf, intInRange, optionalText } from '../core/validation.js';
import { managesAccount } from '../organizations/organizations.js';
import { transactionsById } from './credit-loaders.js';
import { CreditTransaction } from './credit-transaction.model.js';
import { ledgerOf } from './ledger-of.js';
import { DEFAULT_RESERVATION_TTL_SECONDS, MAX_RESERVATION_TTL_SECONDS, ReserveCreditsInput } from './reservation.input.js';
import { Reservation } from './reservation.model.js';
import type { Resolver as HoldResolver } from './reservations.js';
import { creditAmount, spendFeature } from './spend-input.js';
import { spenderOf } from './spender.js';

/**
 * The viewer, as one who may capture or release holds: their own, (to release) those of wallets they manage, and any
 * for an admin.
 */
const resolverOf = (ctx: RequestContext): HoldResolver => {
  const viewer = viewerOf(ctx);
  return { userId: viewer.id, managesAccount: (accountId) => managesAccount(ctx.em, accountId, viewer), isAdmin: isAdmin(viewer) };
};

@Resolver(() => Reservation)
export class ReservationsResolver {
  @Authorized()
  @Mutation(() => Reservation, {
    description: 'Holds credits for work whose cost is known only at the end; INSUFFICIENT_CREDITS when the spendable balance is too small.',
  })
  reserveCredits(@Arg('input', () => ReserveCreditsInput) input: ReserveCreditsInput, @Ctx() ctx: RequestContext) {
    const organizationId = input.organizationId == null ? null : idOf('org', 'input.organizationId', input.organizationId);
    return perRequest(ctx, ledgerOf).reservations.reserve(spenderOf(viewerOf(ctx).id, organizationId), {
      amount: creditAmount('input.amount', input.amount),
      feature: spendFeature('input.feature', input.feature),
      idempotencyKey: idempotencyKey('input.idempotencyKey', input.idempotencyKey),
      ttlSeconds: intInRange('input.ttlSeconds', input.ttlSeconds ?? DEFAULT_RESERVATION_TTL_SECONDS, 1, MAX_RESERVATION_TTL_SECONDS),
      description: optionalText('input.description', input.description, 500),
    });
  }

  @Authorized()
  @Mutation(() => Reservation, {
    description:
      'Charges `amount` (at most the held amount) as one CONSUMPTION row and frees the rest. Once only: the same capture again returns the same result; otherwise RESERVATION_ALREADY_RESOLVED, or RESERVATION_EXPIRED after expiresAt.',
  })
  captureReservation(@Arg('id', () => ID) id: string, @Arg('amount', () => Int) amount: number, @Ctx() ctx: RequestContext) {
    return perRequest(ctx, ledgerOf).reservations.capture(resolverOf(ctx), idOf('rsv', 'id', id), creditAmount('amount', amount));
  }

  @Authorized()
  @Mutation(() => Reservation, {
    description:
      "Frees the held credits without a charge (the holder, an owner or admin of the organization whose wallet holds them, or a Tally admin, who must give a `reason` for another user's hold). The reason and who released it are kept on the reservation. Releasing again returns it unchanged; a captured or expired one is an error.",
  })
  releaseReservation(
    @Arg('id', () => ID) id: string,
    @Arg('reason', () => String, { nullable: true, description: '1..500 characters: why, kept on the reservation (resolutionReason).' }) reason: string | null,
    @Ctx() ctx: RequestContext,
  ) {
    return perRequest(ctx, ledgerOf).reservations.release(resolverOf(ctx), idOf('rsv', 'id', id), optionalText('reason', reason, 500) ?? null);
  }

  @Authorized()
  @Query(() => Reservation, { nullable: true, description: "One of the viewer's reservations (or one on a wallet they manage; any, for an admin)." })
  async reservation(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext) {
    return (await perRequest(ctx, ledgerOf).reservations.find(resolverOf(ctx), idOf('rsv', 'id', id))) ?? null;
  }

  @FieldResolver(() => CreditTransaction, { nullable: true, description: 'The CONSUMPTION row of the capture; null unless CAPTURED.' })
  transaction(@Root() reservation: Reservation, @Ctx() ctx: RequestContext) {
    return reservation.transactionId ? perRequest(ctx, transactionsById).load({ accountId: reservation.accountId, id: reservation.transactionId }) : null;
  }
}
