import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { notFound } from '../core/errors.js';
import type { Row } from '../database/rows.js';

/**
 * The account's Stripe customer (a user's, or an organization's own), created on its first purchase and reused after.
 * Concurrent first purchases send the same idempotency key, so Stripe answers both with one customer; the conditional
 * UPDATE keeps whichever id was saved first, so the account never ends up pointing at a second customer.
 */
export async function stripeCustomerFor(stripe: Stripe, em: EntityManager, accountId: string): Promise<string> {
  const [account] = await em.execute<Row[]>(
    `select a.id, a.kind, a.stripe_customer_id, u.email, u.first_name, u.last_name, o.name as organization_name
     from accounts a left join users u on u.id = a.id left join organizations o on o.id = a.id where a.id = ?`,
    [accountId],
  );
  if (!account) throw notFound('Account', accountId);
  if (account.stripe_customer_id) return String(account.stripe_customer_id);
  const name = account.kind === 'organization' ? String(account.organization_name) : [account.first_name, account.last_name].filter(Boolean).join(' ');
  const metadata: Record<string, string> = { accountId, ...(account.kind === 'organization' ? { organizationId: accountId } : { userId: accountId }) };
  const customer = await stripe.customers.create(
    { ...(account.email ? { email: String(account.email) } : {}), ...(name ? { name } : {}), metadata },
    { idempotencyKey: `tally-customer-${accountId}` },
  );
  const saved = await em.execute<{ stripe_customer_id: string }[]>(
    `update accounts set stripe_customer_id = ?, updated_at = now()
     where id = ? and stripe_customer_id is null returning stripe_customer_id`,
    [customer.id, accountId],
  );
  if (saved[0]) return customer.id;
  const [current] = await em.execute<{ stripe_customer_id: string }[]>('select stripe_customer_id from accounts where id = ?', [accountId]);
  return current!.stripe_customer_id;
}
