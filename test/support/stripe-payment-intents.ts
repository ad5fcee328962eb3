import { randomBytes } from 'node:crypto';
import { StripeApiError } from './stripe-subscriptions.js';
import type { StripeObject } from './stripe-stand-in.js';

/**
 * Saved cards and off-session PaymentIntents in the Stripe stand-in: what auto-recharge uses. A Checkout payment made
 * with `payment_intent_data[setup_future_usage]=off_session` saves its card on the customer; a PaymentIntent confirmed
 * off-session with a saved card succeeds, is declined (402 card_error, `card_declined`), or needs the customer
 * (`authentication_required`, as Stripe answers 3-D Secure off-session), as the card was told to behave.
 */

export type CardBehaviour = 'succeeds' | 'declines' | 'requires_action';

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;
const clone = <T>(value: T): T => structuredClone(value);
const now = () => Math.floor(Date.now() / 1000);

export class PaymentIntentBook {
  readonly paymentIntents = new Map<string, StripeObject>();
  readonly paymentMethods = new Map<string, StripeObject & { behaviour: CardBehaviour }>();

  constructor(private readonly customers: Map<string, StripeObject>) {}

  /** Saves a card on a customer (as a Checkout payment with setup_future_usage does); answers its id. */
  saveCard(customerId: string, behaviour: CardBehaviour = 'succeeds'): string {
    const method = {
      id: newId('pm'),
      object: 'payment_method',
      type: 'card',
      customer: customerId,
      card: { brand: 'visa', last4: behaviour === 'succeeds' ? '4242' : behaviour === 'declines' ? '0002' : '3155', exp_month: 12, exp_year: 2034 },
      created: now(),
      livemode: false,
      behaviour,
    };
    this.paymentMethods.set(method.id, method);
    return method.id;
  }

  /** From now on, the card answers this way. */
  setBehaviour(paymentMethodId: string, behaviour: CardBehaviour) {
    const method = this.paymentMethods.get(paymentMethodId);
    if (!method) throw new Error(`stand-in: no payment method ${paymentMethodId}`);
    method.behaviour = behaviour;
  }

  private cardsOf(customerId: string): StripeObject[] {
    return [...this.paymentMethods.values()]
      .filter((method) => method.customer === customerId)
      .reverse()
      .map(({ behaviour: _behaviour, ...method }) => clone(method));
  }

  route(method: string, path: string, body: StripeObject): StripeObject | undefined {
    const customerMethods = /^\/v1\/customers\/([\w-]+)\/payment_methods$/.exec(path);
    if (method === 'GET' && (customerMethods || path === '/v1/payment_methods')) {
      const customer = customerMethods ? customerMethods[1]! : String(body.customer ?? '');
      if (!this.customers.has(customer)) throw new StripeApiError(400, 'invalid_request_error', `No such customer: '${customer}'`, 'resource_missing', 'customer');
      const data = this.cardsOf(customer).slice(0, Number(body.limit ?? 10));
      return { object: 'list', url: path, has_more: false, data };
    }
    if (method === 'POST' && path === '/v1/payment_intents') return this.create(body);
    const intentPath = /^\/v1\/payment_intents\/([\w-]+)$/.exec(path);
    if (method === 'GET' && intentPath) {
      const intent = this.paymentIntents.get(intentPath[1]!);
      if (!intent) throw new StripeApiError(404, 'invalid_request_error', `No such payment_intent: '${intentPath[1]}'`, 'resource_missing', 'id');
      return clone(intent);
    }
    return undefined;
  }

  private create(body: StripeObject): StripeObject {
    const amount = Number(body.amount);
    if (!Number.isInteger(amount) || amount < 50) throw new StripeApiError(400, 'invalid_request_error', 'Amount must be at least 50 cents.', 'amount_too_small', 'amount');
    const customer = String(body.customer ?? '');
    if (!this.customers.has(customer)) throw new StripeApiError(400, 'invalid_request_error', `No such customer: '${customer}'`, 'resource_missing', 'customer');
    const card = this.paymentMethods.get(String(body.payment_method ?? ''));
    if (!card || card.customer !== customer) {
      throw new StripeApiError(400, 'invalid_request_error', `No such PaymentMethod: '${String(body.payment_method)}'`, 'resource_missing', 'payment_method');
    }
    const intent: StripeObject = {
      id: newId('pi'),
      object: 'payment_intent',
      amount,
      currency: body.currency ?? 'usd',
      customer,
      payment_method: card.id,
      metadata: body.metadata ?? {},
      off_session_requested: body.off_session ?? null,
      confirm_requested: body.confirm ?? null,
      created: now(),
      livemode: false,
      last_payment_error: null,
      status: 'succeeded',
      latest_charge: newId('ch'),
    };
    this.paymentIntents.set(String(intent.id), intent);
    if (card.behaviour === 'declines') {
      intent.status = 'requires_payment_method';
      intent.last_payment_error = { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.' };
      throw new StripeApiError(402, 'card_error', 'Your card has insufficient funds.', 'card_declined', undefined, { payment_intent: clone(intent), decline_code: 'insufficient_funds' });
    }
    if (card.behaviour === 'requires_action') {
      intent.status = 'requires_action';
      intent.last_payment_error = { type: 'card_error', code: 'authentication_required', message: 'This payment requires authentication.' };
      throw new StripeApiError(402, 'card_error', 'This payment requires authentication.', 'authentication_required', undefined, { payment_intent: clone(intent) });
    }
    return clone(intent);
  }
}
