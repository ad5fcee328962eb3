import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll } from '@jest/globals';
import Stripe from 'stripe';
import { CreateCheckoutSessionDocument } from '../generated/graphql.js';
import { expectCleanLedger } from './ledger.js';
import { startTestServer, type TestServer } from './server.js';
import { startStripeStandIn, type StripeObject, type StripeStandIn } from './stripe-stand-in.js';

/** The billing tests' world: the real server, pointed at a local stand-in for the Stripe API, with three packs. */

export const SECRET_KEY = 'sk_test_tallybilling0123456789';
export const WEBHOOK_SECRET = 'whsec_tallybilling0123456789';
export const ADMIN = 'user_billing_admin';
export const APP_URL = 'https://app.tally.test';

export const PACKS = {
  small: { id: 'pack_small', credits: 10, priceCents: 1000 },
  priced: { id: 'pack_priced', credits: 50, priceCents: 4000, stripePriceId: 'price_fifty' },
  retired: { id: 'pack_retired', credits: 3, priceCents: 300 },
} as const;

export interface Billing {
  server: TestServer;
  stripe: StripeStandIn;
  close(): Promise<void>;
}

export async function startBilling(env: Record<string, string> = {}): Promise<Billing> {
  const stripe = await startStripeStandIn();
  stripe.prices.set(PACKS.priced.stripePriceId, { unit_amount: PACKS.priced.priceCents, currency: 'usd' });
  const server = await startTestServer({
    env: {
      STRIPE_SECRET_KEY: SECRET_KEY,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_API_BASE: stripe.url,
      ADMIN_USER_IDS: ADMIN,
      APP_URL,
      CHECKOUT_REDIRECT_ORIGINS: 'http://localhost:3000',
      ...env,
    },
  });
  await seedPacks(server);
  return {
    server,
    stripe,
    async close() {
      await server.close();
      await stripe.close();
    },
  };
}

/** Billing for the enclosing describe: started before its tests, the ledger audited clean after each, stopped after. */
export function useBilling(env: Record<string, string> = {}): Billing {
  const billing = {} as Billing;
  beforeAll(async () => {
    Object.assign(billing, await startBilling(env));
  });
  afterEach(async () => {
    billing.stripe.clearFailures();
    await expectCleanLedger(billing.server);
  });
  afterAll(() => billing.close());
  return billing;
}

export async function seedPacks(server: TestServer) {
  await server.sql.query(
    `insert into credit_packs (id, name, credits, price_cents, currency, stripe_price_id, active) values
     ('pack_small', 'Small', 10, 1000, 'usd', null, true),
     ('pack_priced', 'Fifty', 50, 4000, 'usd', 'price_fifty', true),
     ('pack_retired', 'Retired', 3, 300, 'usd', null, false)`,
  );
}

export async function stripeEventRows(server: TestServer): Promise<{ id: string; type: string; outcome: string; detail: string | null }[]> {
  const { rows } = await server.sql.query('select id, type, outcome, detail from stripe_events order by processed_at, id');
  return rows;
}

export async function checkout(server: TestServer, sub: string, packId: string = PACKS.small.id) {
  const res = await server.as(sub).execute(CreateCheckoutSessionDocument, { input: { packId } });
  if (!res.data?.createCheckoutSession) throw new Error(`checkout failed: ${JSON.stringify(res.errors)}`);
  return res.data.createCheckoutSession;
}

// --- Events, signed as Stripe signs them --------------------------------------------------------------------------

export interface StripeEventPayload {
  id: string;
  object: 'event';
  type: string;
  created: number;
  livemode: boolean;
  api_version: string;
  pending_webhooks: number;
  request: { id: string | null; idempotency_key: string | null };
  data: { object: StripeObject };
}

/** An event as Stripe sends it; `created` (unix seconds) defaults to now. */
export function stripeEvent(type: string, object: StripeObject, created: number = Math.floor(Date.now() / 1000)): StripeEventPayload {
  return {
    id: `evt_${randomBytes(12).toString('hex')}`,
    object: 'event',
    type,
    created,
    livemode: false,
    api_version: Stripe.API_VERSION,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    data: { object },
  };
}

export interface DeliveryOptions {
  /** Sign with this secret instead of the server's. */
  secret?: string;
  /** Unix seconds for the signature's timestamp. */
  timestamp?: number;
  /** Send this Stripe-Signature header verbatim; null sends none. */
  signature?: string | null;
  /** Send these bytes instead of the event's JSON (still signed unless `signature` says otherwise). */
  body?: string;
}

export interface Delivery {
  status: number;
  body: { received?: boolean; outcome?: string; duplicate?: boolean; error?: string } | null;
}

export async function deliver(server: TestServer, event: StripeEventPayload | null, options: DeliveryOptions = {}): Promise<Delivery> {
  const payload = options.body ?? JSON.stringify(event);
  const signature =
    options.signature === undefined
      ? Stripe.webhooks.generateTestHeaderString({ payload, secret: options.secret ?? WEBHOOK_SECRET, timestamp: options.timestamp })
      : options.signature;
  const response = await fetch(`${server.url}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8', ...(signature === null ? {} : { 'stripe-signature': signature }) },
    body: payload,
  });
  const text = await response.text();
  let body: Delivery['body'] = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  return { status: response.status, body };
}

/** A small seeded PRNG, so that a shuffled delivery order can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Stripe's worst day: every event `copies` times, in an order shuffled by `seed`, `concurrency` deliveries in flight
 * at once. Returns every answer.
 */
export async function deliverStorm(
  server: TestServer,
  events: StripeEventPayload[],
  { copies = 5, concurrency = 3, seed }: { copies?: number; concurrency?: number; seed: number },
): Promise<Delivery[]> {
  const random = seededRandom(seed);
  const queue = events.flatMap((event) => Array.from({ length: copies }, () => event));
  for (let i = queue.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [queue[i], queue[j]] = [queue[j]!, queue[i]!];
  }
  const answers: Delivery[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < queue.length) {
        const event = queue[next++]!;
        answers.push(await deliver(server, event));
      }
    }),
  );
  return answers;
}
