import Stripe from 'stripe';
import type { StripeConfig } from '../config.js';

/** The Stripe SDK client, pointed at STRIPE_API_BASE when set (stripe-mock or a local stand-in). */
export function createStripeClient(config: StripeConfig | undefined): Stripe | undefined {
  if (!config?.secretKey) return undefined;
  const base = config.apiBase;
  return new Stripe(config.secretKey, {
    maxNetworkRetries: 2,
    timeout: 10_000,
    appInfo: { name: 'tally' },
    ...(base
      ? { host: base.hostname, port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)), protocol: base.protocol.replace(':', '') as 'http' | 'https' }
      : {}),
  });
}
