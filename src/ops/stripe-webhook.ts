import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import Stripe from 'stripe';
import { processStripeEvent } from '../billing/stripe-events.js';
import type { AppServices } from '../core/context.js';
import { isDomainError } from '../core/errors.js';
import { isDatabaseUnavailable } from '../database/pg-errors.js';
import type { Metrics } from './metrics.js';
import { currentRequestScope } from '../request-scope.js';

/**
 * The HTTP status for an event that failed, in one place: what can succeed later (the database, Stripe's API)
 * answers 5xx so that Stripe retries; a domain refusal (a malformed or foreign object) is permanent and answers 200.
 */
function failureStatus(error: unknown): { status: number; retry: boolean } {
  if (isDomainError(error) && error.code !== 'SERVICE_UNAVAILABLE') return { status: 200, retry: false };
  return { status: isDatabaseUnavailable(error) ? 503 : 500, retry: true };
}

const APPLIED_KINDS = ['checkout.session.', 'charge.', 'customer.subscription.', 'invoice.', 'payment_intent.'];

/**
 * Why a signed event's object could never be applied, or undefined. Stripe's objects never carry these, so they are
 * told apart here, once, rather than failing deep in a statement (and being retried by Stripe for days): an id that
 * is not text, a number that is not a whole number within JavaScript's exact range, or text PostgreSQL cannot store
 * (a NUL, a lone surrogate) anywhere in the object, keys included. Walked without recursion.
 */
export function malformedObject(type: string, object: Record<string, unknown>): string | undefined {
  // Every object of the kinds Tally applies has an id (sessions, charges, disputes, subscriptions, invoices, intents).
  const needsId = 'id' in object || APPLIED_KINDS.some((kind) => type.startsWith(kind));
  if (needsId && (typeof object.id !== 'string' || object.id === '')) return 'data.object.id is not an id';
  const stack: [unknown, string][] = [[object, 'data.object']];
  let visited = 0;
  while (stack.length > 0) {
    const [value, path] = stack.pop()!;
    if (++visited > 100_000) return 'data.object is too large';
    if (typeof value === 'string') {
      if (value.includes('\0') || !value.isWellFormed()) return `${path} holds text that cannot be stored`;
    } else if (typeof value === 'number') {
      if (!(Number.isFinite(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER)) return `${path} is not a usable number`;
    } else if (value && typeof value === 'object') {
      for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
        if (key.includes('\0') || !key.isWellFormed()) return `${path} has a key that cannot be stored`;
        stack.push([item, `${path}.${key}`]);
      }
    }
  }
  return undefined;
}

/**
 * POST /webhooks/stripe. The signature over the raw body is checked before anything else (400 and nothing written
 * when it fails); billing/stripe-events.ts applies a verified event exactly once.
 */
export function stripeWebhookRoute(services: AppServices, metrics: Metrics): RequestHandler {
  const { config, orm } = services;
  const secret = config.stripe?.webhookSecret;
  // Verification needs no API key: the SDK's webhook helpers work without a configured client.
  const webhooks = services.stripe?.webhooks ?? Stripe.webhooks;
  const count = (type: string, outcome: string) =>
    metrics.webhookEvents.inc({ type: metrics.boundedLabel('webhook_type', type), outcome: metrics.boundedLabel('webhook_outcome', outcome) });

  return async (req, res) => {
    const log = services.log.child({ route: 'stripe-webhook' });
    if (!secret) {
      log.error('a Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set');
      res.status(503).json({ error: 'Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET)' });
      return;
    }
    const signature = req.get('stripe-signature');
    if (!signature || !Buffer.isBuffer(req.body) || req.body.length === 0) {
      res.status(400).json({ error: 'missing Stripe-Signature header or body' });
      return;
    }
    let event: Stripe.Event;
    try {
      event = webhooks.constructEvent(req.body, signature, secret);
    } catch (error) {
      const badSignature = error instanceof Stripe.errors.StripeSignatureVerificationError;
      log.warn({ reason: badSignature ? error.message : 'payload is not JSON' }, 'rejected a Stripe webhook');
      count('unverified', badSignature ? 'invalid-signature' : 'invalid-payload');
      res.status(400).json({ error: badSignature ? 'invalid signature' : 'invalid payload' });
      return;
    }
    if (typeof event?.id !== 'string' || typeof event.type !== 'string' || typeof event.data?.object !== 'object' || !event.data.object) {
      log.error({ payload: req.body.toString('utf8', 0, 500) }, 'signed Stripe webhook is not an event; ignored');
      count('unverified', 'malformed');
      res.json({ received: true, outcome: 'malformed' });
      return;
    }

    const malformed = malformedObject(event.type, event.data.object as unknown as Record<string, unknown>) ?? (event.id.includes('\0') || !event.id.isWellFormed() ? 'the event id cannot be stored' : undefined);
    if (malformed) {
      log.error({ stripeEventId: event.id.replace(/\0/g, ''), stripeEventType: event.type, reason: malformed }, 'signed Stripe event cannot be applied; ignored');
      count(event.type, 'malformed');
      res.json({ received: true, outcome: 'malformed' });
      return;
    }

    const eventLog = log.child({ stripeEventId: event.id, stripeEventType: event.type });
    try {
      const requestId = currentRequestScope()?.requestId ?? randomUUID();
      const result = await processStripeEvent(orm.em.fork(), event, {
        stripe: services.stripe,
        ledger: { workshopCreditCost: config.workshopCreditCost, requestId },
      });
      if ('duplicate' in result) {
        eventLog.info({ outcome: result.outcome }, 'Stripe event redelivered; already processed');
        count(event.type, 'duplicate');
        res.json({ received: true, outcome: result.outcome, duplicate: true });
        return;
      }
      eventLog[result.level]({ outcome: result.outcome, detail: result.detail }, 'Stripe event processed');
      count(event.type, result.outcome);
      if (result.retry) {
        res.status(503).json({ error: 'not applicable yet; retry later', outcome: result.outcome });
        return;
      }
      res.json({ received: true, outcome: result.outcome });
    } catch (error) {
      // Whatever failed rolled the whole event back; a 5xx makes Stripe deliver it again.
      const { status, retry } = failureStatus(error);
      eventLog.error({ err: error }, retry ? 'Stripe event failed; Stripe will retry it' : 'Stripe event refused');
      count(event.type, 'error');
      res.status(status).json(retry ? { error: 'internal error; retry later' } : { received: true, outcome: 'refused' });
    }
  };
}
