import { randomBytes } from 'node:crypto';
import type { StripeObject } from './stripe-stand-in.js';

/**
 * The subscription side of the Stripe stand-in: recurring prices, subscription-mode Checkout, subscriptions and their
 * invoices, the customer portal. Objects have the shape of Stripe's current API version (periods on the subscription
 * item; an invoice's subscription under `parent.subscription_details`, a line's price under
 * `pricing.price_details`); `legacyShape` turns one into the shape of versions before 2025-03-31.
 *
 * Each subscription keeps Stripe's clock for itself: it starts now, and each renewal starts where the last period
 * ended (so later periods lie in the future). Every change to it advances its clock by at least a second, and each
 * action answers with the time it happened (`at`), for the events that report it.
 */

export interface Price {
  unit_amount: number;
  currency: string;
  recurring?: { interval: 'month' | 'year' };
}

export class StripeApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly code?: string,
    readonly param?: string,
    /** More fields of Stripe's error object (a card error's `payment_intent`, `decline_code`). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;
const clone = <T>(value: T): T => structuredClone(value);

export function addInterval(start: number, interval: 'month' | 'year', count = 1): number {
  const date = new Date(start * 1000);
  if (interval === 'year') date.setUTCFullYear(date.getUTCFullYear() + count);
  else date.setUTCMonth(date.getUTCMonth() + count);
  return Math.floor(date.getTime() / 1000);
}

export interface Changed {
  subscription: StripeObject;
  invoice?: StripeObject;
  /** Stripe's time of the change (unix seconds): the `created` of the events that report it. */
  at: number;
}

export class SubscriptionBook {
  readonly subscriptions = new Map<string, StripeObject>();
  readonly invoices = new Map<string, StripeObject>();
  readonly portalSessions: StripeObject[] = [];
  /** GET /v1/subscriptions/:id answers 404, as for a subscription Stripe cannot find: the webhook must do without. */
  hideSubscriptions = false;
  private readonly clocks = new Map<string, number>();

  constructor(
    private readonly prices: Map<string, Price>,
    private readonly customers: Map<string, StripeObject>,
  ) {}

  /** Advances a subscription's clock (a new one's starts now) and answers the time of the change. */
  tick(subscriptionId: string | undefined, at?: number): number {
    const last = subscriptionId ? (this.clocks.get(subscriptionId) ?? 0) : 0;
    const next = Math.max(last + 1, at ?? 0, Math.floor(Date.now() / 1000));
    if (subscriptionId) this.clocks.set(subscriptionId, next);
    return next;
  }

  recurringPrice(priceId: unknown, param: string): Price & { recurring: { interval: 'month' | 'year' } } {
    const price = typeof priceId === 'string' ? this.prices.get(priceId) : undefined;
    if (!price) throw new StripeApiError(400, 'invalid_request_error', `No such price: '${String(priceId)}'`, 'resource_missing', param);
    if (!price.recurring) {
      throw new StripeApiError(400, 'invalid_request_error', 'You specified `subscription` mode but passed a one-time price.', 'parameter_invalid', param);
    }
    return price as Price & { recurring: { interval: 'month' | 'year' } };
  }

  subscription(id: string): StripeObject {
    const found = this.subscriptions.get(id);
    if (!found) throw new StripeApiError(404, 'invalid_request_error', `No such subscription: '${id}'`, 'resource_missing', 'id');
    return found;
  }

  /** The API routes this book answers; undefined for any other. */
  route(method: string, path: string, body: StripeObject): StripeObject | undefined {
    const subscriptionPath = /^\/v1\/subscriptions\/([\w-]+)$/.exec(path);
    if (method === 'GET' && subscriptionPath) {
      if (this.hideSubscriptions) throw new StripeApiError(404, 'invalid_request_error', `No such subscription: '${subscriptionPath[1]}'`, 'resource_missing', 'id');
      return clone(this.subscription(subscriptionPath[1]!));
    }
    if (method === 'DELETE' && subscriptionPath) return this.cancel(subscriptionPath[1]!).subscription;
    if (method === 'POST' && path === '/v1/billing_portal/sessions') return this.portalSession(body);
    const linesPath = /^\/v1\/invoices\/([\w-]+)\/lines$/.exec(path);
    if (method === 'GET' && linesPath) {
      const invoice = this.invoices.get(linesPath[1]!);
      if (!invoice) throw new StripeApiError(404, 'invalid_request_error', `No such invoice: '${linesPath[1]}'`, 'resource_missing', 'id');
      const lines = (invoice.lines as { data: StripeObject[] }).data;
      return { object: 'list', url: path, has_more: false, data: clone(lines) };
    }
    return undefined;
  }

  private portalSession(body: StripeObject): StripeObject {
    const customer = body.customer;
    if (typeof customer !== 'string' || !this.customers.has(customer)) {
      throw new StripeApiError(400, 'invalid_request_error', `No such customer: '${String(customer)}'`, 'resource_missing', 'customer');
    }
    const session = {
      id: newId('bps'),
      object: 'billing_portal.session',
      customer,
      return_url: body.return_url ?? null,
      url: `https://billing.stripe.test/p/session/${newId('test')}`,
      created: Math.floor(Date.now() / 1000),
      livemode: false,
    };
    this.portalSessions.push(session);
    return session;
  }

  /** What a subscription-mode session asks for, checked as Stripe checks it. */
  checkSession(body: StripeObject) {
    const items = Array.isArray(body.line_items) ? (body.line_items as StripeObject[]) : [];
    if (items.length !== 1) throw new StripeApiError(400, 'invalid_request_error', 'This stand-in subscribes to exactly one price.', 'parameter_invalid', 'line_items');
    this.recurringPrice(items[0]!.price, 'line_items[0][price]');
  }

  /** The customer completes a subscription-mode Checkout Session: the subscription starts and its first invoice is paid. */
  subscribe(session: StripeObject, options: { at?: number } = {}): Changed & { session: StripeObject } {
    const at = this.tick(undefined, options.at);
    const item = (session.line_items_requested as StripeObject[])[0]!;
    const priceId = String(item.price);
    const price = this.recurringPrice(priceId, 'price');
    const data = (session.subscription_data_requested ?? {}) as StripeObject;
    const metadata = (data.metadata ?? {}) as Record<string, string>;
    const trialDays = data.trial_period_days === undefined ? 0 : Number(data.trial_period_days);
    const end = trialDays > 0 ? at + trialDays * 86_400 : addInterval(at, price.recurring.interval);
    const subscription: StripeObject = {
      id: newId('sub'),
      object: 'subscription',
      customer: session.customer,
      status: trialDays > 0 ? 'trialing' : 'active',
      created: at,
      start_date: at,
      cancel_at_period_end: false,
      cancel_at: null,
      canceled_at: null,
      ended_at: null,
      trial_start: trialDays > 0 ? at : null,
      trial_end: trialDays > 0 ? end : null,
      metadata: { ...metadata },
      latest_invoice: null,
      livemode: false,
      items: {
        object: 'list',
        has_more: false,
        data: [{ id: newId('si'), object: 'subscription_item', price: this.priceObject(priceId), quantity: 1, current_period_start: at, current_period_end: end }],
      },
    };
    this.subscriptions.set(String(subscription.id), subscription);
    this.clocks.set(String(subscription.id), at);
    const invoice = this.invoice(subscription, 'subscription_create', [this.line(subscription, priceId, trialDays > 0 ? 0 : price.unit_amount, at, end, false)], true, at);
    session.status = 'complete';
    session.payment_status = trialDays > 0 ? 'no_payment_required' : 'paid';
    session.subscription = subscription.id;
    return { session: clone(session), subscription: clone(subscription), invoice, at };
  }

  /**
   * Stripe bills the next period (after a trial, the first paid one): paid, or failed (the subscription goes
   * past_due and the period has not been paid for).
   */
  renew(subscriptionId: string, options: { fail?: boolean } = {}): Changed {
    const subscription = this.subscription(subscriptionId);
    const item = this.item(subscription);
    const priceId = String((item.price as StripeObject).id);
    const price = this.recurringPrice(priceId, 'price');
    const start = Number(item.current_period_end);
    const end = addInterval(start, price.recurring.interval);
    const at = this.tick(subscriptionId, start);
    item.current_period_start = start;
    item.current_period_end = end;
    if (subscription.cancel_at_period_end === true) {
      subscription.status = 'canceled';
      subscription.canceled_at = at;
      subscription.ended_at = at;
      return { subscription: clone(subscription), at };
    }
    const invoice = this.invoice(subscription, 'subscription_cycle', [this.line(subscription, priceId, price.unit_amount, start, end, false)], !options.fail, at);
    subscription.status = options.fail ? 'past_due' : 'active';
    return { subscription: clone(subscription), invoice, at };
  }

  /** Stripe's retry of a failed invoice goes through. */
  payInvoice(invoiceId: string): Changed {
    const invoice = this.invoices.get(invoiceId);
    if (!invoice) throw new Error(`stand-in: no invoice ${invoiceId}`);
    const subscription = this.subscription(String((invoice.parent as { subscription_details: { subscription: string } }).subscription_details.subscription));
    const at = this.tick(String(subscription.id));
    invoice.status = 'paid';
    invoice.amount_paid = invoice.amount_due;
    subscription.status = 'active';
    return { subscription: clone(subscription), invoice: clone(invoice), at };
  }

  /** The customer changes plan in the portal. With `invoiceNow` (proration "always invoice"), the proration is billed at once. */
  changePrice(subscriptionId: string, priceId: string, options: { invoiceNow?: boolean; at?: number } = {}): Changed {
    const subscription = this.subscription(subscriptionId);
    const item = this.item(subscription);
    const oldPriceId = String((item.price as StripeObject).id);
    const oldPrice = this.recurringPrice(oldPriceId, 'price');
    const price = this.recurringPrice(priceId, 'items[0][price]');
    const start = Number(item.current_period_start);
    const end = Number(item.current_period_end);
    const at = this.tick(subscriptionId, options.at);
    item.price = this.priceObject(priceId);
    if (price.recurring.interval !== oldPrice.recurring.interval) {
      // Another billing interval restarts the period now, as Stripe does: the unused time of the old price is
      // credited (a proration) and the new period is billed at once, as a line of its own (not a proration).
      const newEnd = addInterval(at, price.recurring.interval);
      item.current_period_start = at;
      item.current_period_end = newEnd;
      const unused = -Math.round(oldPrice.unit_amount * ((end - at) / (end - start)));
      const lines = [this.line(subscription, oldPriceId, unused, at, end, true), this.line(subscription, priceId, price.unit_amount, at, newEnd, false)];
      const invoice = this.invoice(subscription, 'subscription_update', lines, true, at);
      return { subscription: clone(subscription), invoice, at };
    }
    if (!options.invoiceNow) return { subscription: clone(subscription), at };
    const share = (end - at) / (end - start);
    const lines = [
      this.line(subscription, oldPriceId, -Math.round(oldPrice.unit_amount * share), at, end, true),
      this.line(subscription, priceId, Math.round(price.unit_amount * share), at, end, true),
    ];
    const invoice = this.invoice(subscription, 'subscription_update', lines, true, at);
    return { subscription: clone(subscription), invoice, at };
  }

  setCancelAtPeriodEnd(subscriptionId: string, cancel: boolean): Changed {
    const subscription = this.subscription(subscriptionId);
    const at = this.tick(subscriptionId);
    subscription.cancel_at_period_end = cancel;
    subscription.canceled_at = cancel ? at : null;
    return { subscription: clone(subscription), at };
  }

  /** Cancelled now (the portal's "cancel immediately", or DELETE /v1/subscriptions/:id): `customer.subscription.deleted`. */
  cancel(subscriptionId: string): Changed {
    const subscription = this.subscription(subscriptionId);
    const at = this.tick(subscriptionId);
    subscription.status = 'canceled';
    subscription.canceled_at = at;
    subscription.ended_at = at;
    return { subscription: clone(subscription), at };
  }

  private item(subscription: StripeObject): StripeObject {
    return (subscription.items as { data: StripeObject[] }).data[0]!;
  }

  private priceObject(priceId: string): StripeObject {
    const price = this.prices.get(priceId)!;
    return { id: priceId, object: 'price', unit_amount: price.unit_amount, currency: price.currency, recurring: price.recurring ?? null, product: `prod_${priceId}` };
  }

  private line(subscription: StripeObject, priceId: string, amount: number, start: number, end: number, proration: boolean): StripeObject {
    return {
      id: newId('il'),
      object: 'line_item',
      amount,
      currency: this.prices.get(priceId)!.currency,
      quantity: 1,
      period: { start, end },
      pricing: { type: 'price_details', price_details: { price: priceId, product: `prod_${priceId}` }, unit_amount_decimal: String(amount) },
      parent: {
        type: 'subscription_item_details',
        invoice_item_details: null,
        subscription_item_details: { subscription: subscription.id, subscription_item: this.item(subscription).id, proration, invoice_item: null },
      },
    };
  }

  private invoice(subscription: StripeObject, reason: string, lines: StripeObject[], paid: boolean, at: number): StripeObject {
    const total = lines.reduce((sum, line) => sum + Number(line.amount), 0);
    const invoice: StripeObject = {
      id: newId('in'),
      object: 'invoice',
      customer: subscription.customer,
      status: paid ? 'paid' : 'open',
      billing_reason: reason,
      amount_due: Math.max(0, total),
      amount_paid: paid ? Math.max(0, total) : 0,
      currency: lines[0]!.currency,
      created: at,
      parent: { type: 'subscription_details', quote_details: null, subscription_details: { subscription: subscription.id, metadata: clone(subscription.metadata) } },
      lines: { object: 'list', has_more: false, data: lines },
      livemode: false,
    };
    this.invoices.set(String(invoice.id), invoice);
    subscription.latest_invoice = invoice.id;
    return clone(invoice);
  }
}

/** A subscription or invoice as API versions before 2025-03-31 shaped it (what older webhook endpoints still receive). */
export function legacyShape(object: StripeObject): StripeObject {
  const copy = clone(object);
  if (copy.object === 'subscription') {
    const item = (copy.items as { data: StripeObject[] }).data[0]!;
    copy.current_period_start = item.current_period_start;
    copy.current_period_end = item.current_period_end;
    delete item.current_period_start;
    delete item.current_period_end;
    copy.plan = item.price;
  } else if (copy.object === 'invoice') {
    const details = (copy.parent as { subscription_details: StripeObject }).subscription_details;
    copy.subscription = details.subscription;
    copy.subscription_details = { metadata: details.metadata };
    delete copy.parent;
    for (const line of (copy.lines as { data: StripeObject[] }).data) {
      const item = (line.parent as { subscription_item_details: StripeObject }).subscription_item_details;
      line.price = { id: (line.pricing as { price_details: { price: string } }).price_details.price, object: 'price' };
      line.proration = item.proration;
      line.subscription = item.subscription;
      delete line.pricing;
      delete line.parent;
    }
  }
  return copy;
}
