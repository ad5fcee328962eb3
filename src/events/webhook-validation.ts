import type { WebhookConfig } from '../config.js';
import { badUserInput } from '../core/errors.js';
import { text } from '../core/validation.js';
import { ALL_EVENT_TYPES, EVENT_TYPES, isEventType } from './event-types.js';
import { ipLiteral, specialUseReason } from './network-guard.js';
import { MAX_URL_LENGTH } from './webhook-endpoint.model.js';

/**
 * An endpoint URL as it is stored. Host names are checked again at every attempt, after they are resolved
 * (network-guard.ts); here an address or a name that can only be local is refused at once.
 */
export function endpointUrl(field: string, value: string, config: Pick<WebhookConfig, 'requireHttps' | 'allowPrivateNetworks'>): string {
  const raw = text(field, value, { max: MAX_URL_LENGTH });
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw badUserInput(field, 'must be an absolute URL');
  }
  if (config.requireHttps ? url.protocol !== 'https:' : url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw badUserInput(field, config.requireHttps ? 'must be an https URL' : 'must be an http(s) URL');
  }
  if (url.username !== '' || url.password !== '') throw badUserInput(field, 'must not contain credentials');
  if (url.hash !== '') throw badUserInput(field, 'must not have a #fragment');
  if (!config.allowPrivateNetworks) {
    const literal = ipLiteral(url.hostname);
    // A trailing dot names the same host (`localhost.` is `localhost`).
    const host = url.hostname.replace(/\.+$/, '');
    const local = host === 'localhost' || host.endsWith('.localhost');
    if (local || (literal !== undefined && specialUseReason(literal) !== undefined)) {
      throw badUserInput(field, 'must not point at a loopback, private or other special-use address');
    }
  }
  const normalized = url.toString();
  if (normalized.length > MAX_URL_LENGTH) throw badUserInput(field, `must be at most ${MAX_URL_LENGTH} characters`);
  return normalized;
}

/** Known event types or "*", each once, in the order given. */
export function eventTypeList(field: string, values: readonly string[]): string[] {
  if (values.length === 0) throw badUserInput(field, `must list at least one event type, or "${ALL_EVENT_TYPES}" for every type`);
  const unique = [...new Set(values)];
  if (unique.length > EVENT_TYPES.length + 1) throw badUserInput(field, 'lists too many event types');
  for (const value of unique) {
    if (value !== ALL_EVENT_TYPES && !isEventType(value)) {
      throw badUserInput(field, `"${value.slice(0, 64)}" is not an event type (webhookEventTypes lists them)`);
    }
  }
  return unique;
}
