import { createHash, randomFillSync, randomInt } from 'node:crypto';
import { hostname } from 'node:os';

export type IdPrefix = 'usr' | 'org' | 'ws' | 'ctx' | 'pack' | 'rsv' | 'plan' | 'we' | 'evt' | 'msg' | 'ar';

/**
 * CUID2 (https://github.com/paralleldrive/cuid2), the same construction as the reference library: a random letter,
 * then the base-36 SHA3-512 of time, salt, a counter and a host fingerprint, cut to 24 characters. Built on Node's
 * native SHA3 and BigInt: the reference implementation's pure-JS hashing and big-number conversion took about
 * 160 us per id, a tenth of the CPU of a consumption.
 */
const LENGTH = 24;
const BIG_LENGTH = 32;

const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz';

// Random bytes are drawn from the CSPRNG a few KiB at a time, as Node does for randomUUID(): one call per id was
// a visible share of an id's cost.
const random = Buffer.alloc(4096);
let randomOffset = random.length;

const entropy = (length: number) => {
  if (randomOffset + length > random.length) {
    randomFillSync(random);
    randomOffset = 0;
  }
  let text = '';
  for (let i = randomOffset; i < randomOffset + length; i++) text += BASE36[random[i]! % 36];
  randomOffset += length;
  return text;
};

const hash = (input: string) => BigInt(`0x${createHash('sha3-512').update(input).digest('hex')}`).toString(36).slice(1);

const fingerprint = hash(`${process.pid}${hostname()}${entropy(BIG_LENGTH)}`).substring(0, BIG_LENGTH);
let counter = randomInt(476_782_367);

export function cuid2(): string {
  const letter = String.fromCharCode(97 + randomInt(26));
  const input = `${Date.now().toString(36)}${entropy(LENGTH)}${(counter++).toString(36)}${fingerprint}`;
  return letter + hash(input).substring(1, LENGTH);
}

/** A public id such as `usr_tz4a98xxat96iws9zmbrgj3a`: a type prefix and a CUID2. */
export const prefixedId = (prefix: IdPrefix) => `${prefix}_${cuid2()}`;

const BODY = /^[a-z][0-9a-z]{1,31}$/;

/** True when `value` has the shape of an id with this prefix (not that such a row exists). */
export function isPrefixedId(prefix: IdPrefix, value: string): boolean {
  return value.startsWith(`${prefix}_`) && BODY.test(value.slice(prefix.length + 1));
}
