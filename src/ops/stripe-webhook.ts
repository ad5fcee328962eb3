import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import Stripe from 'stripe';
import { APPLIED_EVENT_TYPES } from '../billing/stripe-event-effects.js';
import { processStripeEvent } from '../billing/stripe-events.js';
import type { AppServices } from '../core/context.js';
import { isDomainError } from '../core/errors.js';
import { isStorableText as storable } from '../core/validation.js';
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

/** The fields of an applied event's object that Tally reads as ids or codes (besides its metadata). */
const READ_FIELDS = ['id', 'customer', 'subscription', 'payment_intent', 'charge', 'invoice', 'status', 'currency', 'billing_reason', 'mode', 'payment_status'];


/**
 * Why a signed event Tally applies could never be applied, or undefined. Stripe's objects never carry these, so they
 * are told apart here, once, rather than failing deep in a statement (and being retried by Stripe for days): an
 * object without a text id; a number past exact integers anywhere in it; a NUL or lone surrogate in an id, code or
 * metadata entry that Tally reads. Text Tally never reads (a customer's name, a description) is not looked at: an
 * event is never turned away for it. Walked without recursion.
 */
export function malformedObject(type: string, object: Record<string, unknown>): string | undefined {
  if (!APPLIED_EVENT_TYPES.has(type)) return undefined;
  if (typeof object.id !== 'string' || object.id === '') return 'data.object.id is not an id';
  for (const field of READ_FIELDS) {
    const value = object[field];
    const text = typeof value === 'string' ? value : value && typeof value === 'object' ? (value as { id?: unknown }).id : undefined;
    if (typeof text === 'string' && !storable(text)) return `data.object.${field} holds text that cannot be stored`;
  }
  const metadata = object.metadata;
  if (metadata && typeof metadata === 'object') {
    for (const [key, value] of Object.entries(metadata as Record<string, unknown>)) {
      if (!storable(key) || (typeof value === 'string' && !storable(value))) return 'data.object.metadata holds text that cannot be stored';
    }
  }
  const stack: unknown[] = [object];
  let visited = 0;
  while (stack.length > 0) {
    const value = stack.pop();
    if (++visited > 100_000) return 'data.object is too large';
    if (typeof value === 'number' && !(Number.isFinite(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER)) return 'data.object holds a number past exact integers';
    if (value && typeof value === 'object') for (const item of Object.values(value as Record<string, unknown>)) stack.push(item);
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

    const malformed = storable(event.id) ? malformedObject(event.type, event.data.object as unknown as Record<string, unknown>) : 'the event id cannot be stored';
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
