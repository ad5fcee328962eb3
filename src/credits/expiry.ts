import type { EntityManager } from '@mikro-orm/postgresql';
import { Ledger } from './ledger.js';

export interface SweepSummary {
  accountsSwept: number;
  /** Accounts whose row was locked (by a request or another instance's sweeper): left for that one or the next sweep. */
  accountsBusy: number;
  reservationsExpired: number;
  grantsExpired: number;
  creditsExpired: number;
}

const BATCH = 500;

/** Accounts with a HELD reservation or a grant with credits left whose time is up, after `after` in id order. */
const LAPSED_ACCOUNTS_SQL = `
select account_id from reservations where status = 'held' and expires_at <= ? and account_id > ?
union
select account_id from credit_grants where remaining > 0 and expires_at <= ? and account_id > ?
order by 1 limit ?`;

/**
 * Frees every lapsed hold and expires every lapsed grant as of `now` (a parameter, so tests pass a future time).
 * Safe with several API instances sweeping at once: each account is handled in its own transaction that takes its
 * row with FOR UPDATE SKIP LOCKED, so an account someone else is working on is skipped rather than waited for, and
 * whoever holds the row re-reads it under the lock. Accounts are visited once per sweep in id order, so grant credits
 * that a hold keeps from expiring (see postings.ts) cannot make a sweep loop.
 */
export async function sweepExpired(em: EntityManager, now: Date): Promise<SweepSummary> {
  const ledger = new Ledger(em, { workshopCreditCost: 0, now: () => now });
  const summary: SweepSummary = { accountsSwept: 0, accountsBusy: 0, reservationsExpired: 0, grantsExpired: 0, creditsExpired: 0 };
  let after = '';
  for (;;) {
    const accounts = await em.execute<{ account_id: string }[]>(LAPSED_ACCOUNTS_SQL, [now, after, now, after, BATCH]);
    for (const { account_id: accountId } of accounts) {
      const outcome = await ledger.expireLapsedFor(accountId, now);
      if (outcome === 'busy') {
        summary.accountsBusy += 1;
        continue;
      }
      summary.accountsSwept += 1;
      summary.reservationsExpired += outcome.reservationsExpired;
      summary.grantsExpired += outcome.grantsExpired;
      summary.creditsExpired += outcome.creditsExpired;
    }
    if (accounts.length < BATCH) return summary;
    after = accounts.at(-1)!.account_id;
  }
}
