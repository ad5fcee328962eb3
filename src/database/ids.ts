import { createId } from '@paralleldrive/cuid2';

export type IdPrefix = 'usr' | 'ws' | 'ctx' | 'pack' | 'rsv';

/** A public id such as `usr_tz4a98xxat96iws9zmbrgj3a`: a type prefix and a CUID2. */
export const prefixedId = (prefix: IdPrefix) => `${prefix}_${createId()}`;

const BODY = /^[a-z][0-9a-z]{1,31}$/;

/** True when `value` has the shape of an id with this prefix (not that such a row exists). */
export function isPrefixedId(prefix: IdPrefix, value: string): boolean {
  return value.startsWith(`${prefix}_`) && BODY.test(value.slice(prefix.length + 1));
}
