import { badUserInput } from './errors.js';
import { isPrefixedId, type IdPrefix } from './ids.js';

/** Input checks shared by resolvers. Each names the offending field in a BAD_USER_INPUT error. */

/** Text PostgreSQL stores exactly as given: no NUL (text and JSON cannot hold it), no lone UTF-16 surrogate (which
 * would be stored as U+FFFD, so two different strings could become one). */
export const isStorableText = (text: string): boolean => !text.includes('\0') && text.isWellFormed();

export function intInRange(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw badUserInput(field, `must be a whole number from ${min} to ${max.toLocaleString('en-US')}`);
  }
  return value;
}

export function text(field: string, value: string, { min = 1, max }: { min?: number; max: number }): string {
  const trimmed = value.trim();
  if (trimmed.length < min) throw badUserInput(field, min === 1 ? 'must not be empty' : `must be at least ${min} characters`);
  if (trimmed.length > max) throw badUserInput(field, `must be at most ${max} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(trimmed)) throw badUserInput(field, 'must not contain control characters');
  return trimmed;
}

export function optionalText(field: string, value: string | null | undefined, max: number): string | undefined {
  return value === null || value === undefined ? undefined : text(field, value, { max });
}

/** A search box's text: trimmed, at most `max` characters; blank or missing is no search (null). */
export function searchText(field: string, value: string | null | undefined, max = 200): string | null {
  const trimmed = value?.trim() ?? '';
  if (trimmed === '') return null;
  if (trimmed.length > max) throw badUserInput(field, `must be at most ${max} characters`);
  return trimmed;
}

export function idOf(prefix: IdPrefix, field: string, value: string): string {
  if (!isPrefixedId(prefix, value)) throw badUserInput(field, `must be an id of the form ${prefix}_...`);
  return value;
}

const FEATURE = /^[a-z0-9_.-]{1,64}$/;
export function featureKey(field: string, value: string): string {
  if (!FEATURE.test(value)) throw badUserInput(field, 'must be 1..64 characters of a-z, 0-9, "_", "." or "-"');
  return value;
}

export function idempotencyKey(field: string, value: string): string {
  if (value.length < 1 || value.length > 255) throw badUserInput(field, 'must be 1..255 characters');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw badUserInput(field, 'must not contain control characters');
  return value;
}

export const MAX_METADATA_BYTES = 4 * 1024;
/** Objects and arrays nested in metadata, at most: deeper is no record a client keeps, and would exhaust the stack. */
export const MAX_METADATA_DEPTH = 32;

/** How deep objects and arrays nest in `value`, walked without recursion; stops counting past `limit`. */
function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [next, depth] = stack.pop()!;
    if (next === null || typeof next !== 'object') continue;
    deepest = Math.max(deepest, depth);
    if (deepest > limit) return deepest;
    for (const child of Object.values(next as Record<string, unknown>)) stack.push([child, depth + 1]);
  }
  return deepest;
}

export function metadataObject(field: string, value: unknown): Record<string, unknown> | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) throw badUserInput(field, 'must be a JSON object');
  if (nestingDepth(value, MAX_METADATA_DEPTH) > MAX_METADATA_DEPTH) throw badUserInput(field, `must nest at most ${MAX_METADATA_DEPTH} levels deep`);
  if (Buffer.byteLength(JSON.stringify(value)) > MAX_METADATA_BYTES) throw badUserInput(field, 'must be at most 4 KiB of JSON');
  return value as Record<string, unknown>;
}

export function httpUrl(field: string, value: string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined;
  try {
    const url = new URL(value);
    if (url.protocol === 'https:' || url.protocol === 'http:') return url.toString();
  } catch {
    // fall through
  }
  throw badUserInput(field, 'must be an http(s) URL');
}
