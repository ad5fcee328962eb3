import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import { notFound } from '../core/errors.js';
import type { Row } from '../database/rows.js';

/**
 * The user's Stripe customer, created on their first purchase and reused after. Concurrent first purchases send the
 * same idempotency key, so Stripe answers both with one customer; the conditional UPDATE keeps whichever id was
 * saved first, so the user never ends up pointing at a second customer.
 */
export async function stripeCustomerFor(stripe: Stripe, em: EntityManager, userId: string): Promise<string> {
  const [user] = await em.execute<Row[]>('select id, email, first_name, last_name, stripe_customer_id from users where id = ?', [userId]);
  if (!user) throw notFound('User', userId);
  if (user.stripe_customer_id) return String(user.stripe_customer_id);
  const name = [user.first_name, user.last_name].filter(Boolean).join(' ');
  const customer = await stripe.customers.create(
    { ...(user.email ? { email: String(user.email) } : {}), ...(name ? { name } : {}), metadata: { userId } },
    { idempotencyKey: `tally-customer-${userId}` },
  );
  const saved = await em.execute<{ stripe_customer_id: string }[]>(
    `update users set stripe_customer_id = ?, updated_at = now()
     where id = ? and stripe_customer_id is null returning stripe_customer_id`,
    [customer.id, userId],
  );
  if (saved[0]) return customer.id;
  const [current] = await em.execute<{ stripe_customer_id: string }[]>('select stripe_customer_id from users where id = ?', [userId]);
  return current!.stripe_customer_id;
}
