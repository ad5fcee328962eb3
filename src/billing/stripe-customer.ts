import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { User } from '../users/user.entity.js';

/**
 * The user's Stripe customer, created on their first purchase and reused after. Concurrent first purchases send the
 * same idempotency key, so Stripe answers both with one customer; the conditional UPDATE keeps whichever id was
 * saved first, so the user never ends up pointing at a second customer.
 */
export async function stripeCustomerFor(stripe: Stripe, em: EntityManager, user: User): Promise<string> {
  if (user.stripeCustomerId) return user.stripeCustomerId;
  const name = [user.firstName, user.lastName].filter(Boolean).join(' ');
  const customer = await stripe.customers.create(
    { ...(user.email ? { email: user.email } : {}), ...(name ? { name } : {}), metadata: { userId: user.id } },
    { idempotencyKey: `tally-customer-${user.id}` },
  );
  const saved = await em.execute<{ stripe_customer_id: string }[]>(
    `update users set stripe_customer_id = ?, updated_at = now()
     where id = ? and stripe_customer_id is null returning stripe_customer_id`,
    [customer.id, user.id],
  );
  if (saved[0]) return customer.id;
  const [current] = await em.execute<{ stripe_customer_id: string }[]>('select stripe_customer_id from users where id = ?', [user.id]);
  return current!.stripe_customer_id;
}
