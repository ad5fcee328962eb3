import type { EntityManager } from '@mikro-orm/postgresql';
import type { CreditJobsConfig } from '../config.js';
import type { Logger } from '../logger.js';

/**
 * Writes what the environment says of plans into the plans table, at start: PLAN_ALLOWANCES sets the monthly credits
 * (and PLAN_ALLOWANCE_ROLLOVER_CAP the rollover cap) of the plans it lists, creating any that does not exist;
 * PLAN_PRICES sets their Stripe Price. Plans it does not mention keep what the table says.
 */
export async function syncPlans(em: EntityManager, settings: CreditJobsConfig, log: Logger): Promise<void> {
  for (const [plan, credits] of settings.planAllowances) {
    await em.execute(
      `insert into plans (id, name, monthly_credits, rollover_cap, sort_order, created_at, updated_at) values (?, initcap(?), ?, ?, 100, now(), now())
       on conflict (id) do update set monthly_credits = excluded.monthly_credits, rollover_cap = excluded.rollover_cap, updated_at = now()`,
      [plan, plan, credits, settings.allowanceRolloverCap > 0 ? settings.allowanceRolloverCap : null],
    );
  }
  for (const [plan, price] of settings.planPrices) {
    await em.execute('update plans set stripe_price_id = null, updated_at = now() where stripe_price_id = ? and id <> ?', [price, plan]);
    await em.execute(
      `insert into plans (id, name, stripe_price_id, sort_order, created_at, updated_at) values (?, initcap(?), ?, 100, now(), now())
       on conflict (id) do update set stripe_price_id = excluded.stripe_price_id, updated_at = now()`,
      [plan, plan, price],
    );
  }
  if (settings.planAllowances.size > 0 || settings.planPrices.size > 0) {
    log.info({ allowances: Object.fromEntries(settings.planAllowances), prices: Object.fromEntries(settings.planPrices) }, 'plans updated from the environment');
  }
}
