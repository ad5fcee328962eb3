import { badUserInput } from '../core/errors.js';
import { idempotencyKey } from '../core/validation.js';

/**
 * One unique (user_id, idempotency_key) index serves every writer of a user's ledger rows, so each writer other than
 * the user has a prefix of its own: an admin's grant key can never collide with a key the user chose, nor with the
 * allowance job's or the starter credits'. Clients may not use these prefixes.
 */
export const GRANT_KEY_PREFIX = 'grant:';
export const ALLOWANCE_KEY_PREFIX = 'allowance:';
export const SYSTEM_KEY_PREFIX = 'system:';
/** A subscription period's credits: `subscription:<sub_id>:<period start, unix seconds>` (and `...:<plan>` for an upgrade's). */
export const SUBSCRIPTION_KEY_PREFIX = 'subscription:';

const RESERVED_PREFIXES = [GRANT_KEY_PREFIX, ALLOWANCE_KEY_PREFIX, SYSTEM_KEY_PREFIX, SUBSCRIPTION_KEY_PREFIX];

export const STARTER_CREDITS_KEY = `${SYSTEM_KEY_PREFIX}starter-credits`;

/** The stored key of an admin grant made with `key`. */
export const grantKey = (key: string) => `${GRANT_KEY_PREFIX}${key}`;

/** A key a client chose for its own consumption or reservation. */
export function clientIdempotencyKey(field: string, value: string): string {
  const key = idempotencyKey(field, value);
  const reserved = RESERVED_PREFIXES.find((prefix) => key.startsWith(prefix));
  if (reserved) throw badUserInput(field, `keys starting with "${reserved}" are reserved`);
  return key;
}
