import type { RequestHandler } from 'express';
import type { Services } from '../services.js';

/** POST /webhooks/stripe: verifies Stripe's signature over the raw body before anything else. */
export function createStripeWebhookHandler(services: Services): RequestHandler {
  const secret = services.config.stripe?.webhookSecret;
  return (req, res) => {
    if (!secret) {
      res.status(503).json({ error: 'Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRET)' });
      return;
    }
    const signature = req.get('stripe-signature');
    if (!signature || !Buffer.isBuffer(req.body)) {
      res.status(400).json({ error: 'missing Stripe-Signature header or body' });
      return;
    }
    try {
      const stripe = services.stripe;
      if (!stripe) throw new Error('no client');
      stripe.webhooks.constructEvent(req.body, signature, secret);
    } catch {
      res.status(400).json({ error: 'invalid signature' });
      return;
    }
    res.json({ received: true });
  };
}
