import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import Stripe from 'stripe';
import { Ledger } from '../credits/ledger.js';
import { recordWebhookEvent } from '../ops/metrics.js';
import { currentRequestScope } from '../ops/request-scope.js';
import type { Services } from '../services.js';
import { applyStripeEvent, type EventEffect } from './stripe-event-effects.js';

/**
 * POST /webhooks/stripe. The signature over the raw body is checked before anything else (400 and nothing written
 * when it fails). A verified event runs in one database transaction together with its `stripe_events` row, so either
 * both commit or neither does; a redelivery of a recorded event is answered at once. Should the row be missing, the
 * effect is still once-only: it is keyed by the session id (row lock and status) and the cumulative refunded amount.
 * Failures we can recover from (the database) answer 5xx so that Stripe retries; permanent ones answer 200.
 */
export function createStripeWebhookHandler(services: Services): RequestHandler {
  const { config, orm } = services;
  const secret = config.stripe?.webhookSecret;
  // Verification needs no API key: the SDK's webhook helpers work without a configured client.
  const webhooks = services.stripe?.webhooks ?? Stripe.webhooks;
  const stripe = services.stripe;
  const sessionOfPayment = stripe
    ? async (paymentIntentId: string) => (await stripe.checkout.sessions.list({ payment_intent: paymentIntentId, limit: 1 })).data[0]
    : undefined;

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
      recordWebhookEvent('unverified', badSignature ? 'invalid-signature' : 'invalid-payload');
      res.status(400).json({ error: badSignature ? 'invalid signature' : 'invalid payload' });
      return;
    }
    if (typeof event?.id !== 'string' || typeof event.type !== 'string' || typeof event.data?.object !== 'object' || !event.data.object) {
      log.error({ payload: req.body.toString('utf8', 0, 500) }, 'signed Stripe webhook is not an event; ignored');
      recordWebhookEvent('unverified', 'malformed');
      res.json({ received: true, outcome: 'malformed' });
      return;
    }

    const eventLog = log.child({ stripeEventId: event.id, stripeEventType: event.type });
    try {
      const em = orm.em.fork();
      const seen = await em.execute<{ outcome: string }[]>('select outcome from stripe_events where id = ?', [event.id]);
      if (seen[0]) {
        eventLog.info({ outcome: seen[0].outcome }, 'Stripe event redelivered; already processed');
        recordWebhookEvent(event.type, 'duplicate');
        res.json({ received: true, outcome: seen[0].outcome, duplicate: true });
        return;
      }
      const requestId = currentRequestScope()?.requestId ?? randomUUID();
      const result: EventEffect = await em.transactional(async (tx) => {
        const ledger = new Ledger(tx, { workshopCreditCost: config.workshopCreditCost, requestId });
        const applied = await applyStripeEvent(event, { em: tx, ledger, sessionOfPayment });
        if (applied.record) {
          await tx.execute(
            `insert into stripe_events (id, type, outcome, detail, livemode, processed_at) values (?, ?, ?, ?, ?, now())
             on conflict (id) do nothing`,
            [event.id, event.type, applied.outcome, applied.detail ?? null, event.livemode === true],
          );
        }
        return applied;
      });
      eventLog[result.level]({ outcome: result.outcome, detail: result.detail }, 'Stripe event processed');
      recordWebhookEvent(event.type, result.outcome);
      res.json({ received: true, outcome: result.outcome });
    } catch (error) {
      // Whatever failed (the database, above all) rolled the whole event back; a 5xx makes Stripe deliver it again.
      eventLog.error({ err: error }, 'Stripe event failed; Stripe will retry it');
      recordWebhookEvent(event.type, 'error');
      res.status(500).json({ error: 'internal error; retry later' });
    }
  };
}
