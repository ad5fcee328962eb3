import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com), made by the reference `standardwebhooks` package
 * so that its verifier, Svix's libraries and any other implementation of the spec accept them.
 */

/** A new signing secret: `whsec_` and the base64 of 32 random bytes, the form the libraries take as is. */
export const newSigningSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

export interface SignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * The three headers for one attempt: `webhook-id` (the event id, stable across retries), `webhook-timestamp` (the
 * attempt's time in Unix seconds) and `webhook-signature`: `v1,<base64 HMAC-SHA256 of id.timestamp.body>` for each
 * secret, separated by spaces (after a rotation both the new and the previous secret sign until the old expires).
 */
export function signatureHeaders(messageId: string, body: string, secrets: readonly string[], at: Date): SignatureHeaders {
  if (secrets.length === 0) throw new Error('no signing secret');
  const signatures = secrets.map((secret) => new Webhook(secret).sign(messageId, at, body));
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}
