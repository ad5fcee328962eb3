import type { EntityManager } from '@mikro-orm/postgresql';
import { insufficientCredits, notFound } from '../core/errors.js';
import { requestHash } from '../core/request-hash.js';
import { isUniqueViolation } from '../database/pg-errors.js';
import type { Row } from '../database/rows.js';
import { IDEMPOTENCY_KEY_UNIQUE, WORKSHOP_CHARGE_UNIQUE } from './constraints.js';
import { toCreditTransaction, type CreditTransaction, type LedgerMetadata } from './credit-transaction.model.js';
import { CreditTransactionType, WORKSHOP_FEATURE } from './credit-transaction.enums.js';
import { grantKey, STARTER_CREDITS_KEY } from './idempotency-keys.js';
import { Postings, usedCredits, type EntityManagerSource, type ExpirySummary, type LedgerOptions, type Posting, type SlowDebit } from './posting/postings.js';
import { PeriodGrants } from './period-grants.js';
import { Purchases } from './purchases.js';
import { Reservations } from './reservations.js';
import type { Spender } from './spender.js';

export type { ExpirySummary, LedgerOptions } from './posting/postings.js';
export type { PurchaseOutcome } from './purchases.js';
export type { ReserveRequest } from './reservations.js';

export interface ConsumeRequest {
  amount: number;
  feature: string;
  idempotencyKey: string;
  description?: string | null;
  workshopId?: string | null;
  metadata?: LedgerMetadata | null;
}

export interface GrantRequest {
  /** A user's personal account (their usr_ id) or an organization's (org_). */
  accountId: string;
  amount: number;
  reason: string;
  idempotencyKey: string;
  /** Credits not spent by then leave the balance through an EXPIRATION row. */
  expiresAt?: Date | null;
}

/** An account's move to another plan (a subscription event, or an admin's setPlan); see Ledger.changePlan. */
export interface PlanChangeRequest {
  accountId: string;
  planId: string;
  /** The admin who set it; null for Stripe's events. */
  actorId: string | null;
  reason: string;
  metadata?: LedgerMetadata | null;
}

/**
 * The ledger, as the rest of the service sees it: spending, grants, allowances and the expiry sweep here, purchases
 * and reservations in their own services (`purchases`, `reservations`). All of them post through the posting core
 * (posting/), the only code that changes a balance, which documents the fast and slow paths and the lock order.
 */
export class Ledger {
  private readonly postings: Postings;
  readonly purchases: Purchases;
  readonly reservations: Reservations;
  /** Credits per plan period: calendar-month allowances and subscription periods. */
  readonly periods: PeriodGrants;

  private get em(): EntityManager {
    return this.postings.em;
  }

  /**
   * `em` may be a function that makes the EntityManager when first needed (a request's fork); `direct`, the ORM's root
   * EntityManager, then takes the fast paths' single statements, so a consumption that posts in one statement never
   * makes one (see Postings.direct).
   */
  constructor(em: EntityManagerSource, options: LedgerOptions, direct?: EntityManager) {
    this.postings = new Postings(em, options, direct);
    this.purchases = new Purchases(this.postings);
    this.reservations = new Reservations(this.postings);
    this.periods = new PeriodGrants(this.postings);
  }

  /**
   * Spends credits once per account and idempotency key; a retry with the same input returns the original row. On
   * an organization's wallet the spender must be a member, and the spend counts against their monthly limit.
   */
  async consume(spender: Spender, request: ConsumeRequest): Promise<CreditTransaction> {
    const hash = requestHash('consume', { ...request, idempotencyKey: undefined });
    if (request.workshopId) await this.ownedWorkshop(this.em, spender.actorId, request.workshopId);
    const posting: Posting = {
      accountId: spender.accountId,
      actorId: spender.actorId,
      type: CreditTransactionType.CONSUMPTION,
      amount: -request.amount,
      description: request.description ?? usedCredits(request.amount, request.feature),
      feature: request.feature,
      idempotencyKey: request.idempotencyKey,
      requestHash: hash,
      workshopId: request.workshopId ?? null,
      metadata: request.metadata ?? null,
    };
    try {
      const single = this.postings.single;
      const row = spender.asMember ? await this.postings.postMemberDebit(single, posting) : await this.postings.post(single, posting);
      if (row) return row;
    } catch (error) {
      if (!isUniqueViolation(error, IDEMPOTENCY_KEY_UNIQUE)) throw error;
    }
    // The key was used before (or by a concurrent request that won), the balance (or the member's limit) is too
    // small, or the spend needs the slow path: holds that may have lapsed, or expiring grants to draw from. Nothing
    // of an organization is told to someone who is not its member, not even whether a key was used.
    if (spender.asMember) await this.requireMember(spender);
    const previous = await this.postings.replay(spender.accountId, request.idempotencyKey, hash);
    if (previous) return previous;
    let account = await this.postings.accountOf(spender.accountId);
    if (spender.asMember || account.held > 0 || account.expiring > 0) {
      const outcome = await this.postings.spendSlowly(posting, spender.asMember);
      if ('row' in outcome) return outcome.row;
      if ('replay' in outcome) return this.postings.replayOrFail(spender.accountId, request.idempotencyKey, hash);
      account = outcome.insufficient;
    }
    throw insufficientCredits(account.balance, request.amount, account.balance - account.held);
  }

  /**
   * Charges a workshop once, to the account it was created for (its owner's, or an organization's, where the owner
   * must still be a member and the charge counts against their limit); charging it again returns the original row.
   */
  async chargeWorkshop(userId: string, workshopId: string): Promise<CreditTransaction> {
    const cost = this.postings.options.workshopCreditCost;
    try {
      return await this.em.transactional(async (em) => {
        const workshop = await this.ownedWorkshop(em, userId, workshopId, { lock: true });
        const accountId = String(workshop.account_id);
        if (workshop.credit_consumed_at) return this.workshopCharge(em, workshopId, accountId);
        const asMember = accountId !== userId;
        const posting: Posting = {
          accountId,
          actorId: userId,
          type: CreditTransactionType.CONSUMPTION,
          amount: -cost,
          description: `Workshop "${String(workshop.title).slice(0, 200)}"`,
          feature: WORKSHOP_FEATURE,
          workshopId,
        };
        const fast = asMember ? await this.postings.postMemberDebit(em, posting) : await this.postings.post(em, posting);
        const outcome: SlowDebit = fast ? { row: fast } : await this.postings.spendLocked(em, posting, asMember);
        if (!('row' in outcome)) {
          const account = 'insufficient' in outcome ? outcome.insufficient : await this.postings.accountOf(accountId, em);
          throw insufficientCredits(account.balance, cost, account.balance - account.held);
        }
        const row = outcome.row;
        await em.execute('update workshops set credit_consumed_at = ?, updated_at = now() where id = ? and account_id = ?', [row.effectiveAt, workshopId, accountId]);
        return row;
      });
    } catch (error) {
      // The workshop row lock makes this unreachable in practice; the unique index is the last line of defence.
      if (!isUniqueViolation(error, WORKSHOP_CHARGE_UNIQUE)) throw error;
      const workshop = await this.ownedWorkshop(this.em, userId, workshopId);
      return this.workshopCharge(this.em, workshopId, String(workshop.account_id));
    }
  }

  /** Adds credits to an account (admin). Idempotent per account and key like consumption. */
  async grant(request: GrantRequest, grantedBy?: { id: string }): Promise<CreditTransaction> {
    const { expiresAt } = request;
    // Keyed `userId` as before accounts existed, so that a grant made then still replays as the same request.
    const hash = requestHash('grant', { ...request, accountId: undefined, userId: request.accountId, expiresAt: expiresAt?.toISOString(), idempotencyKey: undefined });
    const target = await this.em.execute<Row[]>(
      `select a.id from accounts a left join users u on u.id = a.id where a.id = ? and u.deleted_at is null`,
      [request.accountId],
    );
    if (target.length === 0) throw notFound(request.accountId.startsWith('org_') ? 'Organization' : 'User', request.accountId);
    try {
      const posting: Posting = {
        accountId: request.accountId,
        actorId: grantedBy?.id ?? null,
        type: CreditTransactionType.GRANT,
        amount: request.amount,
        description: request.reason,
        idempotencyKey: grantKey(request.idempotencyKey),
        requestHash: hash,
        metadata: grantedBy ? { grantedBy: grantedBy.id } : null,
      };
      const row = expiresAt
        ? await this.em.transactional((em) => this.postings.postExpiringGrant(em, posting, expiresAt))
        : await this.postings.post(this.em, posting);
      if (row) return row;
      throw new Error(`grant to ${request.accountId} was not applied`);
    } catch (error) {
      if (!isUniqueViolation(error, IDEMPOTENCY_KEY_UNIQUE)) throw error;
      const previous = await this.postings.replay(request.accountId, grantKey(request.idempotencyKey), hash);
      if (previous) return previous;
      throw error;
    }
  }

  /** Credits given to a newly provisioned user; call inside the transaction that creates the user and their account. */
  async grantStarterCredits(em: EntityManager, accountId: string, amount: number): Promise<CreditTransaction | undefined> {
    if (amount <= 0) return undefined;
    return this.postings.post(em, {
      accountId,
      type: CreditTransactionType.GRANT,
      amount,
      description: 'Starter credits',
      idempotencyKey: STARTER_CREDITS_KEY,
    });
  }

  /**
   * The sweeper's work for one account (see expiry.ts): frees its lapsed holds and expires its lapsed grants as of
   * `now`. Answers 'busy' without waiting when the account's row is locked (a request, or another instance's sweeper).
   */
  async expireLapsedFor(accountId: string, now: Date): Promise<ExpirySummary | 'busy'> {
    return this.em.transactional(async (em) => {
      const account = await this.postings.tryLockAccount(em, accountId);
      return account ? this.postings.expireLapsed(em, account, now) : 'busy';
    });
  }

  /**
   * Moves an account to another plan, in the caller's transaction: the plan tier changes and a PLAN_CHANGE row (no
   * credits move) records who moved it, from what, to what and why, under the account's row lock. Nothing happens
   * (undefined) when the account is on that plan already, so a repeated event writes nothing twice.
   */
  async changePlan(em: EntityManager, request: PlanChangeRequest): Promise<CreditTransaction | undefined> {
    await this.postings.lockAccount(em, request.accountId);
    const [current] = await em.execute<Row[]>('select plan_tier from accounts where id = ?', [request.accountId]);
    const from = String(current!.plan_tier);
    if (from === request.planId) return undefined;
    await em.execute('update accounts set plan_tier = ?, updated_at = now() where id = ?', [request.planId, request.accountId]);
    return this.postings.postLocked(
      em,
      {
        accountId: request.accountId,
        actorId: request.actorId,
        type: CreditTransactionType.PLAN_CHANGE,
        amount: 0,
        description: `Plan changed from ${from} to ${request.planId}: ${request.reason}`,
        metadata: { ...request.metadata, plan: { from, to: request.planId } },
      },
      0,
    );
  }

  async balanceOf(accountId: string, em: EntityManager = this.postings.single): Promise<number> {
    const [row] = await em.execute<Row[]>('select credit_balance from accounts where id = ?', [accountId]);
    return row ? Number(row.credit_balance) : 0;
  }

  /** A member of the organization whose wallet `spender` names (removed members are not); NOT_FOUND otherwise. */
  private async requireMember(spender: Spender): Promise<void> {
    const rows = await this.em.execute<Row[]>(
      'select 1 from organization_members where organization_id = ? and user_id = ? and removed_at is null',
      [spender.accountId, spender.actorId],
    );
    if (rows.length === 0) throw notFound('Organization', spender.accountId);
  }

  private async ownedWorkshop(em: EntityManager, userId: string, workshopId: string, options: { lock?: boolean } = {}) {
    const [workshop] = await em.execute<Row[]>(
      `select id, user_id, account_id, title, credit_consumed_at from workshops where id = ? and deleted_at is null${options.lock ? ' for update' : ''}`,
      [workshopId],
    );
    if (!workshop || workshop.user_id !== userId) throw notFound('Workshop', workshopId);
    return workshop;
  }

  /** A charged workshop's charge row, on the account it was charged to (the workshop's). */
  private async workshopCharge(em: EntityManager, workshopId: string, accountId: string): Promise<CreditTransaction> {
    const [charge] = await em.execute<Row[]>(
      `select * from credit_transactions where account_id = ? and workshop_id = ? and type = 'consumption' and feature = ? and status = 'completed'`,
      [accountId, workshopId, WORKSHOP_FEATURE],
    );
    if (!charge) throw new Error(`workshop ${workshopId} is marked charged but has no charge row`);
    return toCreditTransaction(charge);
  }
}
