import { Field, ID, Int, ObjectType } from 'type-graphql';
import type { LiveEvent, RequestContext } from '../core/context.js';
import { isDomainError } from '../core/errors.js';
import type { Row } from '../database/rows.js';
import { CreditTransaction, toCreditTransaction } from './credit-transaction.model.js';

@ObjectType('BalanceUpdate', { description: "An account's balance after a change: a ledger row (transaction), or a hold taken or resolved." })
export class BalanceUpdate {
  @Field(() => ID, { description: 'The account: the user (usr_...) or the organization (org_...).' })
  accountId!: string;

  @Field(() => Int)
  creditBalance!: number;

  @Field(() => Int, { description: 'creditBalance less credits held by open reservations.' })
  spendableCredits!: number;

  @Field(() => CreditTransaction, { nullable: true, description: 'The ledger row that changed the balance; null for a hold taken or resolved without one.' })
  transaction!: CreditTransaction | null;

  @Field(() => String, { description: 'The event behind the update (credits.consumed, reservation.created, ...).' })
  eventType!: string;

  @Field(() => String, { description: "The event's number in the account's sequence (the webhook body's `sequence`)." })
  sequence!: string;
}

/** Events that change a balance (or its held part): the ones a live balance follows. */
const CHANGES_BALANCE = /^(credits\.|purchase\.completed$|reservation\.)/;

/** At most this many updates wait for a slow client; older ones are dropped (the latest balance is what matters). */
const MAX_QUEUED = 1_000;

/**
 * The account's balance updates from now on, as an async iterator for a GraphQL subscription. Each event becomes an
 * update in order; an organization's updates stop (NOT_FOUND, like any other read) for someone no longer its member.
 */
export function balanceUpdates(
  ctx: RequestContext,
  accountId: string,
  stillReadable: () => Promise<void>,
): AsyncIterableIterator<BalanceUpdate> {
  const source = ctx.services.liveEvents!;
  const ready: BalanceUpdate[] = [];
  const waiting: ((result: IteratorResult<BalanceUpdate>) => void)[] = [];
  let failure: unknown;
  let done = false;
  let chain = Promise.resolve();

  const push = (update: BalanceUpdate) => {
    if (done) return;
    const next = waiting.shift();
    if (next) next({ value: update, done: false });
    else {
      ready.push(update);
      if (ready.length > MAX_QUEUED) ready.shift();
    }
  };
  const build = async (event: LiveEvent): Promise<BalanceUpdate> => {
    const payload = event.payload as { creditBalance?: number; spendableCredits?: number; transaction?: { id?: string } };
    let transaction: CreditTransaction | null = null;
    if (payload.transaction?.id) {
      const [row] = await ctx.services.orm.em.fork().execute<Row[]>('select * from credit_transactions where id = ?', [payload.transaction.id]);
      transaction = row ? toCreditTransaction(row) : null;
    }
    return {
      accountId,
      creditBalance: Number(payload.creditBalance ?? 0),
      spendableCredits: Number(payload.spendableCredits ?? 0),
      transaction,
      eventType: event.type,
      sequence: event.seq,
    };
  };
  const unsubscribe = source.subscribe(accountId, (event) => {
    if (!CHANGES_BALANCE.test(event.type)) return;
    chain = chain
      .then(async () => {
        await stillReadable();
        push(await build(event));
      })
      .catch((error: unknown) => {
        // No longer allowed to read it (removed from the organization): the subscription ends. Anything else is reported.
        if (!isDomainError(error)) failure = error;
        finish();
      });
  });
  const finish = () => {
    if (done) return;
    done = true;
    unsubscribe();
    for (const next of waiting.splice(0)) next({ value: undefined, done: true });
  };

  return {
    next() {
      if (ready.length > 0) return Promise.resolve({ value: ready.shift()!, done: false });
      if (failure) {
        const error = failure;
        failure = undefined;
        return Promise.reject(error);
      }
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => waiting.push(resolve));
    },
    return() {
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(error?: unknown) {
      finish();
      return Promise.reject(error);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}
