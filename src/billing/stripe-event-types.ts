import type { EntityManager } from '@mikro-orm/postgresql';
import type Stripe from 'stripe';
import type { Ledger } from '../credits/ledger.js';

/** What one webhook event did, for the `stripe_events` row and the log line. */
export interface EventEffect {
  outcome: string;
  detail?: string;
  level: 'info' | 'warn' | 'error';
  /**
   * False for permanent rejections (unknown user, pack or payment; a malformed object): nothing is written, so that
   * once an operator fixes the cause, "Resend" in the Stripe dashboard applies the event.
   */
  record: boolean;
  /**
   * True when the event cannot be applied yet but will be later (a refund whose purchase has not completed, with no
   * Stripe API to ask): nothing is written and the answer is a 5xx, so Stripe delivers it again.
   */
  retry?: boolean;
}

export interface EventDeps {
  em: EntityManager;
  ledger: Ledger;
  /** What was asked of Stripe before the transaction began (see prefetch in stripe-events.ts). */
  prefetched: Prefetched;
}

export interface Prefetched {
  /**
   * The Checkout Session that created a refunded or disputed payment, when no purchase of ours has that payment yet
   * (a refund's or dispute's notice arriving before its session's `checkout.session.completed`: Stripe does not
   * order deliveries). Undefined when there was nothing to ask; null when Stripe's API is not configured, so it
   * could not be asked.
   */
  sessionOfPayment?: Stripe.Checkout.Session | null;
  /** The disputed charge (for its amount and payment intent), when Stripe's API is configured. */
  disputedCharge?: Stripe.Charge;
  /**
   * The subscription an event is about, as Stripe has it now (newer than any event): when Stripe's API is configured
   * and answered. Without it, the event's own object and time are used (see subscriptions.ts).
   */
  subscription?: Stripe.Subscription;
  /** Every line of an invoice whose event carried only the first page of them. */
  invoiceLines?: Stripe.InvoiceLineItem[];
}

export const effect = (outcome: string, detail?: string, level: EventEffect['level'] = 'info'): EventEffect => ({ outcome, detail, level, record: true });
export const rejected = (outcome: string, detail: string): EventEffect => ({ outcome, detail, level: 'warn', record: false });

