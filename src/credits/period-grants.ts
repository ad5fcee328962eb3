import type { EntityManager } from '@mikro-orm/postgresql';
import { requestHash } from '../core/request-hash.js';
import { isUniqueViolation } from '../database/pg-errors.js';
import type { Row } from '../database/rows.js';
import { IDEMPOTENCY_KEY_UNIQUE } from './constraints.js';
import type { CreditTransaction } from './credit-transaction.model.js';
import { CreditTransactionType } from './credit-transaction.enums.js';
import type { Postings, Posting } from './posting/postings.js';

/** Where a period's credits come from. */
export type PeriodSource = 'allowance' | 'subscription' | 'trial' | 'upgrade';

/**
 * One account's credits for one period of its plan: a UTC calendar month (the sweeper's allowance, for accounts
 * without a subscription), or a subscription period that Stripe billed (or a trial). `key` is the GRANT row's
 * idempotency key, which makes it exactly-once per account.
 */
export interface PeriodGrantRequest {
  accountId: string;
  key: string;
  plan: string;
  /** What the plan gives for the whole period. A second grant for the same period only tops up to it (an upgrade). */
  credits: number;
  start: Date;
  end: Date;
  /** At most this much of the previous period's unspent credits carries over (0: none). */
  rolloverCap: number;
  /** The subscription the period belongs to; null for a calendar month. Grants of one period share it and `end`. */
  subscriptionId: string | null;
  /** How the period is named in the row: `YYYY-MM` for a calendar month, `start/end` (ISO 8601) otherwise. */
  label: string;
  source: PeriodSource;
  /** Where it came from (an invoice, an event), kept in the row's metadata. */
  details?: Record<string, string>;
}

export type PeriodGrantOutcome =
  | { outcome: 'granted'; transaction: CreditTransaction; amount: number; rollover: number }
  | { outcome: 'exists' }
  /** The period's grants already give at least `credits` (a lower plan's invoice after a higher one's): nothing to add. */
  | { outcome: 'nothing-due' };

/** The JSON key under which a period grant describes itself (`metadata.allowance`); the audit of periods reads it. */
const PERIOD = 'allowance';

/**
 * Credits per plan period, as expiring grants: unspent ones expire at the period's end, and up to the plan's
 * rollover cap of them comes back with the next period's grant. Concurrent and repeated attempts (several
 * instances, redelivered webhooks) are ordered by the account's row lock, which the whole computation runs under:
 * the key makes each grant once-only, and the period's earlier grants bound what another may add, so a period
 * never gives more than its best plan's credits plus one rollover, whatever arrives in whatever order.
 */
export class PeriodGrants {
  constructor(private readonly postings: Postings) {}

  async grant(request: PeriodGrantRequest, now: Date = this.postings.now()): Promise<PeriodGrantOutcome> {
    try {
      return await this.postings.em.transactional((em) => this.grantLocked(em, request, now));
    } catch (error) {
      if (isUniqueViolation(error, IDEMPOTENCY_KEY_UNIQUE)) return { outcome: 'exists' };
      throw error;
    }
  }

  private async grantLocked(em: EntityManager, request: PeriodGrantRequest, now: Date): Promise<PeriodGrantOutcome> {
    const { accountId } = request;
    const account = await this.postings.lockAccount(em, accountId);
    if (await this.postings.keyUsed(em, accountId, request.key)) return { outcome: 'exists' };
    // The previous period ended when this one began: expire what is left of it now, even if this clock lags.
    await this.postings.expireLapsed(em, account, request.start > now ? request.start : now);
    const [period] = await em.execute<Row[]>(
      `select count(*)::int as grants, coalesce(sum((t.metadata->'${PERIOD}'->>'amount')::int), 0)::int as credits
       from credit_grants g join credit_transactions t on t.id = g.transaction_id
       where g.account_id = ? and g.expires_at = ? and t.metadata->'${PERIOD}' is not null
         and coalesce(t.metadata->'${PERIOD}'->>'subscriptionId', '') = ?`,
      [accountId, request.end, request.subscriptionId ?? ''],
    );
    const amount = Math.max(0, request.credits - Number(period?.credits ?? 0));
    let rollover = 0;
    if (Number(period?.grants ?? 0) === 0 && request.rolloverCap > 0) {
      // What expiry took from the grants of the period that ended as this one began (calendar month, trial or paid).
      const [previous] = await em.execute<Row[]>(
        `select coalesce(sum(a.amount), 0)::int as expired
         from credit_grants g join credit_transactions t on t.id = g.transaction_id
         join credit_allocations a on a.grant_id = g.transaction_id
         join credit_transactions x on x.id = a.transaction_id and x.type = 'expiration'
         where g.account_id = ? and g.expires_at = ? and t.metadata->'${PERIOD}' is not null`,
        [accountId, request.start],
      );
      rollover = Math.min(Number(previous?.expired ?? 0), request.rolloverCap);
    }
    const total = amount + rollover;
    if (total === 0) return { outcome: 'nothing-due' };
    const what = { period: request.label, tier: request.plan, amount, rollover, source: request.source };
    const posting: Posting = {
      accountId,
      type: CreditTransactionType.GRANT,
      amount: total,
      description: `${describe(request)}${rollover > 0 ? ` (${rollover} rolled over)` : ''}`,
      idempotencyKey: request.key,
      requestHash: requestHash('allowance', what),
      metadata: {
        [PERIOD]: {
          ...what,
          start: request.start.toISOString(),
          end: request.end.toISOString(),
          ...(request.subscriptionId ? { subscriptionId: request.subscriptionId } : {}),
          ...request.details,
        },
      },
    };
    const transaction = await this.postings.postExpiringGrant(em, posting, request.end);
    return { outcome: 'granted', transaction, amount, rollover };
  }
}

function describe(request: PeriodGrantRequest): string {
  switch (request.source) {
    case 'allowance':
      return `${request.plan} plan allowance for ${request.label}`;
    case 'trial':
      return `${request.plan} plan credits for the trial ${request.label}`;
    case 'upgrade':
      return `${request.plan} plan upgrade: credits up to the plan's for ${request.label}`;
    default:
      return `${request.plan} plan credits for ${request.label}`;
  }
}
