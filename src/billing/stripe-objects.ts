import type Stripe from 'stripe';
import { SubscriptionStatus as SubscriptionState } from '../accounts/subscription-status.js';

/**
 * Subscriptions and invoices as Tally reads them, from either shape Stripe has sent them in: before API version
 * 2025-03-31 the period sat on the subscription (`current_period_*`) and an invoice named its `subscription` and a
 * line its `price`; since then the period sits on each subscription item, and an invoice says
 * `parent.subscription_details.subscription` and a line `pricing.price_details.price`. Webhook endpoints keep the
 * version they were created with, so both arrive in practice.
 */

type Loose = Record<string, unknown>;
const obj = (value: unknown): Loose | undefined => (value && typeof value === 'object' ? (value as Loose) : undefined);
const str = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);
const int = (value: unknown): number | undefined => (typeof value === 'number' && Number.isInteger(value) ? value : undefined);
const idOf = (value: unknown): string | undefined => str(value) ?? str(obj(value)?.id);
const seconds = (value: number | undefined) => (value === undefined ? undefined : new Date(value * 1000));

export interface SubscriptionFacts {
  id: string;
  customerId?: string;
  /** metadata.accountId, which Checkout sessions made by the API put on the subscription. */
  accountId?: string;
  /** Stripe's status, as Stripe spells it. */
  status: string;
  priceId?: string;
  periodStart?: Date;
  periodEnd?: Date;
  cancelAtPeriodEnd: boolean;
  created: Date;
  trialStart?: Date;
  trialEnd?: Date;
}

/** Stripe's statuses that end a subscription: the account returns to the free plan. */
const ENDING = new Set(['canceled', 'unpaid', 'incomplete_expired', 'paused']);

export const endsSubscription = (status: string) => ENDING.has(status);

/** Statuses in which the subscription pays for the plan (past_due: Stripe is retrying; access stays, as Stripe users expect). */
export const PAYING_STATUSES: readonly string[] = [SubscriptionState.TRIALING, SubscriptionState.ACTIVE, SubscriptionState.PAST_DUE];

/** How a Stripe status is stored: ours has no incomplete_expired (canceled) nor paused (unpaid: not paying, may resume). */
export function storedStatus(status: string): SubscriptionState | undefined {
  if (status === 'incomplete_expired') return SubscriptionState.CANCELED;
  if (status === 'paused') return SubscriptionState.UNPAID;
  return (Object.values(SubscriptionState) as string[]).includes(status) ? (status as SubscriptionState) : undefined;
}

export function subscriptionFacts(subscription: Stripe.Subscription): SubscriptionFacts | undefined {
  const raw = subscription as unknown as Loose;
  const id = str(raw.id);
  const status = str(raw.status);
  const created = int(raw.created);
  if (!id || !status || created === undefined) return undefined;
  const items = obj(raw.items)?.data;
  const item = Array.isArray(items) ? obj(items[0]) : undefined;
  const periodStart = int(item?.current_period_start) ?? int(raw.current_period_start);
  const periodEnd = int(item?.current_period_end) ?? int(raw.current_period_end);
  const cancelAt = int(raw.cancel_at);
  return {
    id,
    customerId: idOf(raw.customer),
    accountId: str(obj(raw.metadata)?.accountId),
    status,
    priceId: idOf(item?.price) ?? idOf(obj(raw.plan)),
    periodStart: seconds(periodStart),
    periodEnd: seconds(periodEnd),
    // The portal cancels at the period's end either way: the flag, or (newer versions) cancel_at set to that end.
    cancelAtPeriodEnd: raw.cancel_at_period_end === true || (cancelAt !== undefined && periodEnd !== undefined && cancelAt >= periodEnd),
    created: new Date(created * 1000),
    trialStart: seconds(int(raw.trial_start)),
    trialEnd: seconds(int(raw.trial_end)),
  };
}

export interface InvoiceLineFacts {
  priceId?: string;
  amount: number;
  proration: boolean;
  periodStart?: Date;
  periodEnd?: Date;
}

export interface InvoiceFacts {
  id: string;
  subscriptionId?: string;
  customerId?: string;
  accountId?: string;
  billingReason?: string;
  amountPaid: number;
  lines: InvoiceLineFacts[];
  /** More lines than the event carries (it shows the first page only). */
  moreLines: boolean;
}

export function invoiceLineFacts(line: unknown): InvoiceLineFacts {
  const raw = obj(line) ?? {};
  const parent = obj(raw.parent);
  const details = obj(parent?.subscription_item_details) ?? obj(parent?.invoice_item_details);
  const period = obj(raw.period);
  return {
    priceId: str(obj(obj(raw.pricing)?.price_details)?.price) ?? idOf(raw.price),
    amount: int(raw.amount) ?? 0,
    proration: details?.proration === true || raw.proration === true,
    periodStart: seconds(int(period?.start)),
    periodEnd: seconds(int(period?.end)),
  };
}

export function invoiceFacts(invoice: Stripe.Invoice): InvoiceFacts | undefined {
  const raw = invoice as unknown as Loose;
  const id = str(raw.id);
  if (!id) return undefined;
  const details = obj(obj(raw.parent)?.subscription_details);
  const lines = obj(raw.lines);
  const data = Array.isArray(lines?.data) ? lines.data : [];
  return {
    id,
    subscriptionId: idOf(details?.subscription) ?? idOf(raw.subscription),
    customerId: idOf(raw.customer),
    accountId: str(obj(details?.metadata)?.accountId) ?? str(obj(obj(raw.subscription_details)?.metadata)?.accountId),
    billingReason: str(raw.billing_reason),
    amountPaid: int(raw.amount_paid) ?? 0,
    lines: data.map(invoiceLineFacts),
    moreLines: lines?.has_more === true,
  };
}
