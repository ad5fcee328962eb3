import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PaymentIntentBook } from './stripe-payment-intents.js';
import { StripeApiError, SubscriptionBook, type Changed, type Price } from './stripe-subscriptions.js';

/**
 * A local stand-in for the remote Stripe API, the one thing tests replace. The real Stripe SDK talks to it through
 * STRIPE_API_BASE. It speaks the SDK's wire format (form-encoded bodies with `a[b][0]` keys, JSON answers, Stripe's
 * error envelope), honours Idempotency-Key like Stripe does (same key and body: the first answer again; same key,
 * other body: 400 idempotency_error), records every request, and can be told to fail.
 *
 * It also plays the customer's side: paying, expiring and refunding in the dashboard change its state, and return
 * the objects as Stripe would put them in a webhook event.
 */

export type StripeObject = Record<string, unknown>;

export interface RecordedRequest {
  method: string;
  path: string;
  idempotencyKey?: string;
  body: StripeObject;
  /** The status the stand-in answered with. */
  status: number;
  replayed: boolean;
}

export interface InjectedFailure {
  method?: string;
  /** Exact path, e.g. `/v1/checkout/sessions`. */
  path: string;
  status: number;
  type?: 'api_error' | 'invalid_request_error' | 'card_error' | 'rate_limit_error';
  message?: string;
  code?: string;
  /** How many requests fail before the route works again; default: every one until `clearFailures()`. */
  times?: number;
  /** Sent as Stripe-Should-Retry; the SDK retries 5xx unless this is false. Default false. */
  shouldRetry?: boolean;
}

export interface StripeStandIn {
  url: string;
  requests: RecordedRequest[];
  customers: Map<string, StripeObject>;
  sessions: Map<string, StripeObject>;
  charges: Map<string, StripeObject>;
  refunds: StripeObject[];
  /** Prices the stand-in knows for `line_items[][price]`; recurring ones sell subscriptions. */
  prices: Map<string, Price>;
  /** Subscriptions, their invoices and portal sessions, and what the customer and Stripe's clock do to them. */
  billing: SubscriptionBook;
  /** Saved cards and off-session PaymentIntents (auto-recharge). */
  payments: PaymentIntentBook;
  /** The customer completes a subscription-mode session: the subscription starts, its first invoice is paid. */
  completeSubscriptionSession(sessionId: string, options?: { at?: number }): Changed & { session: StripeObject };
  requestsTo(method: string, path: string): RecordedRequest[];
  fail(failure: InjectedFailure): void;
  clearFailures(): void;
  /** Answers this route only after `ms`, to widen race windows (never to assert on timing). */
  delay(method: string, path: string, ms: number): void;
  /** The customer finishes Checkout: `paid` (card) or `unpaid` (a bank debit still in flight). */
  completeSession(sessionId: string, paymentStatus: 'paid' | 'unpaid'): StripeObject;
  /** A delayed payment method settles (`paid`) or fails (`unpaid`, session stays complete). */
  settleSession(sessionId: string, outcome: 'succeeded' | 'failed'): StripeObject;
  expireSession(sessionId: string): StripeObject;
  /** A session made outside Tally's API (dashboard, script, Payment Link), already paid. */
  createPaidSession(fields: { metadata?: Record<string, string>; amount_total?: number; currency?: string }): StripeObject;
  /** A refund issued in the Stripe dashboard; returns the charge as a `charge.refunded` event carries it. */
  refundInDashboard(paymentIntentId: string, amount?: number): StripeObject;
  chargeFor(paymentIntentId: string): StripeObject;
  /** The buyer's bank disputes `amount` (default: all) of a charge; returns the dispute as `charge.dispute.created` carries it. */
  openDispute(paymentIntentId: string, amount?: number, options?: { status?: string }): StripeObject;
  /** The dispute is decided: returns it as `charge.dispute.closed` carries it. */
  closeDispute(disputeId: string, outcome: 'won' | 'lost' | 'warning_closed'): StripeObject;
  close(): Promise<void>;
}

const id = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;
const now = () => Math.floor(Date.now() / 1000);
const clone = <T>(value: T): T => structuredClone(value);

/** `line_items[0][price_data][currency]=usd` and friends, as the SDK encodes them, back into nested objects. */
export function parseStripeForm(body: string): StripeObject {
  const root: StripeObject = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const match = /^([^[\]]+)((?:\[[^\]]*\])*)$/.exec(key);
    if (!match) continue;
    const segments = [match[1]!, ...[...match[2]!.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!)];
    let node: Record<string, unknown> | unknown[] = root;
    segments.forEach((segment, index) => {
      const last = index === segments.length - 1;
      const nextIsIndex = !last && /^\d+$/.test(segments[index + 1]!);
      const slot = node as Record<string, unknown>;
      if (last) {
        slot[segment] = value;
        return;
      }
      slot[segment] ??= nextIsIndex ? [] : {};
      node = slot[segment] as Record<string, unknown>;
    });
  }
  return root;
}

const stringMap = (value: unknown): Record<string, string> => {
  if (!value || typeof value !== 'object') return {};
  return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
};

export async function startStripeStandIn(): Promise<StripeStandIn> {
  const requests: RecordedRequest[] = [];
  const customers = new Map<string, StripeObject>();
  const sessions = new Map<string, StripeObject>();
  const charges = new Map<string, StripeObject>();
  const chargeByIntent = new Map<string, string>();
  const refunds: StripeObject[] = [];
  const disputes = new Map<string, StripeObject>();
  const prices = new Map<string, Price>();
  const book = new SubscriptionBook(prices, customers);
  const payments = new PaymentIntentBook(customers);
  const idempotency = new Map<string, { fingerprint: string; status: number; body: StripeObject }>();
  let failures: (InjectedFailure & { remaining: number })[] = [];
  const delays = new Map<string, number>();

  const requireParam = (body: StripeObject, name: string): string => {
    const value = body[name];
    if (typeof value !== 'string' || value === '') {
      throw new StripeApiError(400, 'invalid_request_error', `Missing required param: ${name}.`, 'parameter_missing', name);
    }
    return value;
  };

  const session = (sessionId: string) => {
    const found = sessions.get(sessionId);
    if (!found) throw new StripeApiError(404, 'invalid_request_error', `No such checkout.session: '${sessionId}'`, 'resource_missing', 'id');
    return found;
  };

  const createCustomer = (body: StripeObject): StripeObject => {
    const customer = {
      id: id('cus'),
      object: 'customer',
      email: body.email ?? null,
      name: body.name ?? null,
      metadata: stringMap(body.metadata),
      created: now(),
      livemode: false,
    };
    customers.set(customer.id, customer);
    return customer;
  };

  const lineItemTotal = (item: StripeObject): { amount: number; currency: string } => {
    const quantity = Number(item.quantity ?? 1);
    if (typeof item.price === 'string') {
      const price = prices.get(item.price);
      if (!price) throw new StripeApiError(400, 'invalid_request_error', `No such price: '${item.price}'`, 'resource_missing', 'line_items[0][price]');
      return { amount: price.unit_amount * quantity, currency: price.currency };
    }
    const data = item.price_data as StripeObject | undefined;
    if (!data || typeof (data.product_data as StripeObject | undefined)?.name !== 'string') {
      throw new StripeApiError(400, 'invalid_request_error', 'You must specify either `price` or `price_data` with `product_data[name]`.', 'parameter_missing');
    }
    return { amount: Number(data.unit_amount) * quantity, currency: String(data.currency) };
  };

  const createSession = (body: StripeObject): StripeObject => {
    const mode = body.mode ?? 'payment';
    if (mode !== 'payment' && mode !== 'subscription') {
      throw new StripeApiError(400, 'invalid_request_error', 'This stand-in does mode=payment and mode=subscription.', 'parameter_invalid_string', 'mode');
    }
    if (mode === 'subscription') {
      book.checkSession(body);
      if (typeof body.customer !== 'string') throw new StripeApiError(400, 'invalid_request_error', 'This stand-in subscribes existing customers only.', 'parameter_missing', 'customer');
    }
    const successUrl = requireParam(body, 'success_url');
    const items = Array.isArray(body.line_items) ? (body.line_items as StripeObject[]) : [];
    if (items.length === 0) throw new StripeApiError(400, 'invalid_request_error', 'Missing required param: line_items.', 'parameter_missing', 'line_items');
    if (typeof body.customer === 'string' && !customers.has(body.customer)) {
      throw new StripeApiError(400, 'invalid_request_error', `No such customer: '${body.customer}'`, 'resource_missing', 'customer');
    }
    const totals = items.map(lineItemTotal);
    const sessionId = `cs_test_${randomBytes(16).toString('hex')}`;
    const created: StripeObject = {
      id: sessionId,
      object: 'checkout.session',
      mode,
      subscription: null,
      status: 'open',
      payment_status: 'unpaid',
      payment_intent: null,
      customer: body.customer ?? null,
      client_reference_id: body.client_reference_id ?? null,
      metadata: stringMap(body.metadata),
      success_url: successUrl,
      cancel_url: body.cancel_url ?? null,
      amount_total: totals.reduce((sum, t) => sum + t.amount, 0),
      currency: totals[0]!.currency,
      url: `https://checkout.stripe.test/c/pay/${sessionId}`,
      created: now(),
      expires_at: now() + 24 * 3600,
      livemode: false,
      line_items_requested: items,
      payment_intent_data_requested: body.payment_intent_data ?? null,
      subscription_data_requested: body.subscription_data ?? null,
    };
    sessions.set(sessionId, created);
    return created;
  };

  /** `GET /v1/checkout/sessions?payment_intent=pi_...`: Stripe's list object, newest first. */
  const listSessions = (query: StripeObject): StripeObject => {
    const intent = typeof query.payment_intent === 'string' ? query.payment_intent : undefined;
    const limit = Math.min(Math.max(Number(query.limit ?? 10), 1), 100);
    const matching = [...sessions.values()].filter((s) => intent === undefined || s.payment_intent === intent).reverse();
    return { object: 'list', url: '/v1/checkout/sessions', has_more: matching.length > limit, data: clone(matching.slice(0, limit)) };
  };

  const createRefund = (body: StripeObject): StripeObject => {
    const intent = requireParam(body, 'payment_intent');
    const chargeId = chargeByIntent.get(intent);
    if (!chargeId) throw new StripeApiError(400, 'invalid_request_error', `No such payment_intent: '${intent}'`, 'resource_missing', 'payment_intent');
    const charge = charges.get(chargeId)!;
    const remaining = Number(charge.amount) - Number(charge.amount_refunded);
    if (remaining <= 0) {
      throw new StripeApiError(400, 'invalid_request_error', `Charge ${chargeId} has already been refunded.`, 'charge_already_refunded');
    }
    const amount = body.amount === undefined ? remaining : Number(body.amount);
    if (!(amount > 0 && amount <= remaining)) {
      throw new StripeApiError(400, 'invalid_request_error', `Refund amount must be 1..${remaining}.`, 'amount_too_large', 'amount');
    }
    return applyRefund(charge, amount, stringMap(body.metadata));
  };

  const applyRefund = (charge: StripeObject, amount: number, metadata: Record<string, string>) => {
    charge.amount_refunded = Number(charge.amount_refunded) + amount;
    charge.refunded = charge.amount_refunded === charge.amount;
    const refund = {
      id: id('re'),
      object: 'refund',
      amount,
      charge: charge.id,
      payment_intent: charge.payment_intent,
      currency: charge.currency,
      status: 'succeeded',
      metadata,
      created: now(),
    };
    refunds.push(refund);
    return refund;
  };

  const route = (method: string, path: string, body: StripeObject): StripeObject => {
    if (method === 'POST' && path === '/v1/customers') return createCustomer(body);
    if (method === 'POST' && path === '/v1/checkout/sessions') return createSession(body);
    if (method === 'GET' && path === '/v1/checkout/sessions') return listSessions(body);
    const sessionPath = /^\/v1\/checkout\/sessions\/([\w-]+)$/.exec(path);
    if (method === 'GET' && sessionPath) return clone(session(sessionPath[1]!));
    if (method === 'POST' && path === '/v1/refunds') return createRefund(body);
    const chargePath = /^\/v1\/charges\/([\w-]+)$/.exec(path);
    if (method === 'GET' && chargePath) {
      const found = charges.get(chargePath[1]!);
      if (!found) throw new StripeApiError(404, 'invalid_request_error', `No such charge: '${chargePath[1]}'`, 'resource_missing', 'id');
      return clone(found);
    }
    const answered = book.route(method, path, body) ?? payments.route(method, path, body);
    if (answered) return answered;
    throw new StripeApiError(404, 'invalid_request_error', `Unrecognized request URL (${method}: ${path}).`);
  };

  const answer = (res: ServerResponse, status: number, body: StripeObject, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': id('req'), ...headers });
    res.end(JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const body = method === 'GET' ? parseStripeForm(url.search.slice(1)) : parseStripeForm(raw);
    const idempotencyKey = req.headers['idempotency-key'] as string | undefined;
    const record = (status: number, replayed = false) => requests.push({ method, path, idempotencyKey, body, status, replayed });

    const wait = delays.get(`${method} ${path}`);
    if (wait) await new Promise((resolve) => setTimeout(resolve, wait));

    if (!/^Bearer sk_test_\w+$/.test(String(req.headers.authorization ?? ''))) {
      record(401);
      answer(res, 401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided.' } });
      return;
    }
    const failure = failures.find((f) => f.path === path && (!f.method || f.method === method) && f.remaining > 0);
    if (failure) {
      failure.remaining -= 1;
      record(failure.status);
      answer(
        res,
        failure.status,
        { error: { type: failure.type ?? 'api_error', message: failure.message ?? 'Injected failure', ...(failure.code ? { code: failure.code } : {}) } },
        { 'stripe-should-retry': String(failure.shouldRetry ?? false) },
      );
      return;
    }
    const fingerprint = `${method} ${path} ${raw}`;
    if (idempotencyKey && method === 'POST') {
      const previous = idempotency.get(idempotencyKey);
      if (previous && previous.fingerprint !== fingerprint) {
        record(400);
        answer(res, 400, {
          error: {
            type: 'idempotency_error',
            message: `Keys for idempotent requests can only be used with the same parameters they were first used with.`,
          },
        });
        return;
      }
      if (previous) {
        record(previous.status, true);
        answer(res, previous.status, previous.body, { 'idempotent-replayed': 'true' });
        return;
      }
    }
    let status = 200;
    let result: StripeObject;
    try {
      result = route(method, path, body);
    } catch (error) {
      if (!(error instanceof StripeApiError)) throw error;
      status = error.status;
      result = {
        error: { type: error.type, message: error.message, ...(error.code ? { code: error.code } : {}), ...(error.param ? { param: error.param } : {}), ...error.extra },
      };
    }
    // Like Stripe, a 4xx answer is saved under its key too; only 5xx answers may be retried for a new result.
    if (idempotencyKey && method === 'POST' && status < 500) idempotency.set(idempotencyKey, { fingerprint, status, body: clone(result) });
    record(status);
    answer(res, status, result);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      answer(res, 500, { error: { type: 'api_error', message: `stand-in bug: ${String(error)}` } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const pay = (target: StripeObject, intent: string = id('pi')) => {
    const charge = {
      id: id('ch'),
      object: 'charge',
      amount: target.amount_total,
      amount_refunded: 0,
      refunded: false,
      currency: target.currency,
      payment_intent: intent,
      customer: target.customer,
      paid: true,
      status: 'succeeded',
      livemode: false,
      created: now(),
    };
    charges.set(charge.id, charge);
    chargeByIntent.set(intent, charge.id);
    target.payment_intent = intent;
    // A Checkout payment asked to keep its card for later (off-session) charges saves it on the customer.
    const intentData = target.payment_intent_data_requested as { setup_future_usage?: string } | null;
    if (intentData?.setup_future_usage === 'off_session' && typeof target.customer === 'string') payments.saveCard(target.customer);
  };

  const chargeFor = (paymentIntentId: string): StripeObject => {
    const chargeId = chargeByIntent.get(paymentIntentId);
    if (!chargeId) throw new Error(`stand-in: no charge for ${paymentIntentId}`);
    return charges.get(chargeId)!;
  };

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    customers,
    sessions,
    charges,
    refunds,
    prices,
    billing: book,
    payments,
    completeSubscriptionSession: (sessionId, options) => book.subscribe(session(sessionId), options),
    requestsTo: (method, path) => requests.filter((r) => r.method === method && r.path === path),
    fail(failure) {
      failures.push({ ...failure, remaining: failure.times ?? Number.POSITIVE_INFINITY });
    },
    clearFailures() {
      failures = [];
    },
    delay(method, path, ms) {
      delays.set(`${method} ${path}`, ms);
    },
    completeSession(sessionId, paymentStatus) {
      const target = session(sessionId);
      target.status = 'complete';
      target.payment_status = paymentStatus;
      if (paymentStatus === 'paid') pay(target);
      else target.payment_intent = id('pi');
      return clone(target);
    },
    settleSession(sessionId, outcome) {
      const target = session(sessionId);
      if (outcome === 'succeeded') {
        // The intent exists since the debit started; the charge it makes keeps its id.
        pay(target, target.payment_intent as string);
        target.payment_status = 'paid';
      }
      return clone(target);
    },
    expireSession(sessionId) {
      const target = session(sessionId);
      target.status = 'expired';
      return clone(target);
    },
    createPaidSession(fields) {
      const created = createSession({
        mode: 'payment',
        success_url: 'https://dashboard.example/done',
        metadata: fields.metadata ?? {},
        line_items: [{ quantity: '1', price_data: { currency: fields.currency ?? 'usd', unit_amount: String(fields.amount_total ?? 1000), product_data: { name: 'Made in the dashboard' } } }],
      });
      created.status = 'complete';
      created.payment_status = 'paid';
      pay(created);
      return clone(created);
    },
    refundInDashboard(paymentIntentId, amount) {
      const charge = chargeFor(paymentIntentId);
      applyRefund(charge, amount ?? Number(charge.amount) - Number(charge.amount_refunded), {});
      return clone(charge);
    },
    chargeFor: (paymentIntentId) => clone(chargeFor(paymentIntentId)),
    openDispute(paymentIntentId, amount, options = {}) {
      const charge = chargeFor(paymentIntentId);
      const dispute = {
        id: id('du'),
        object: 'dispute',
        amount: amount ?? Number(charge.amount) - Number(charge.amount_refunded),
        charge: charge.id,
        payment_intent: paymentIntentId,
        currency: charge.currency,
        reason: 'fraudulent',
        status: options.status ?? 'needs_response',
        created: now(),
        livemode: false,
      };
      disputes.set(dispute.id, dispute);
      charge.disputed = true;
      return clone(dispute);
    },
    closeDispute(disputeId, outcome) {
      const dispute = disputes.get(disputeId);
      if (!dispute) throw new Error(`no dispute ${disputeId}`);
      dispute.status = outcome;
      return clone(dispute);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
