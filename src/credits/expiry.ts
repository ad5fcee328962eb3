import type { EntityManager } from '@mikro-orm/postgresql';
import { Ledger } from './ledger.js';

export interface SweepSummary {
  usersSwept: number;
  /** Users whose row was locked (by a request or another instance's sweeper): left for that one or the next sweep. */
  usersBusy: number;
  reservationsExpired: number;
  grantsExpired: number;
  creditsExpired: number;
}

const BATCH = 500;

/** Users with a HELD reservation or a grant with credits left whose time is up, after `after` in id order. */
const LAPSED_USERS_SQL = `
select user_id from reservations where status = 'held' and expires_at <= ? and user_id > ?
union
select user_id from credit_grants where remaining > 0 and expires_at <= ? and user_id > ?
order by 1 limit ?`;

/**
 * Frees every lapsed hold and expires every lapsed grant as of `now` (a parameter, so tests pass a future time).
 * Safe with several API instances sweeping at once: each user is handled in their own transaction that takes their
 * row with FOR UPDATE SKIP LOCKED, so a user someone else is working on is skipped rather than waited for, and
 * whoever holds the row re-reads it under the lock. Users are visited once per sweep in id order, so grant credits
 * that a hold keeps from expiring (see postings.ts) cannot make a sweep loop.
 */
export async function sweepExpired(em: EntityManager, now: Date): Promise<SweepSummary> {
  const ledger = new Ledger(em, { workshopCreditCost: 0, now: () => now });
  const summary: SweepSummary = { usersSwept: 0, usersBusy: 0, reservationsExpired: 0, grantsExpired: 0, creditsExpired: 0 };
  let after = '';
  for (;;) {
    const users = await em.execute<{ user_id: string }[]>(LAPSED_USERS_SQL, [now, after, now, after, BATCH]);
    for (const { user_id: userId } of users) {
      const outcome = await ledger.expireLapsedFor(userId, now);
      if (outcome === 'busy') {
        summary.usersBusy += 1;
        continue;
      }
      summary.usersSwept += 1;
      summary.reservationsExpired += outcome.reservationsExpired;
      summary.grantsExpired += outcome.grantsExpired;
      summary.creditsExpired += outcome.creditsExpired;
    }
    if (users.length < BATCH) return summary;
    after = users.at(-1)!.user_id;
  }
}
