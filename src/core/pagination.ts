import { Field, ObjectType } from 'type-graphql';
import { badUserInput } from './errors.js';
import { intInRange } from './validation.js';

@ObjectType()
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true })
  endCursor?: string | null;
}

export const MAX_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 20;

export const pageSize = (first: number | null | undefined) => intInRange('first', first ?? DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE);

/** Cursors are opaque to clients: base64url JSON of the keyset position, tagged with what they page over. */
export function encodeCursor(kind: string, position: (string | number)[]): string {
  return Buffer.from(JSON.stringify([kind, ...position])).toString('base64url');
}

export function decodeCursor(kind: string, cursor: string | null | undefined, arity: number): string[] | undefined {
  if (cursor === null || cursor === undefined) return undefined;
  try {
    if (cursor.length > 256) throw new Error('too long');
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed[0] === kind && parsed.length === arity + 1 && parsed.every((p) => typeof p === 'string' || typeof p === 'number')) {
      return parsed.slice(1).map(String);
    }
  } catch {
    // fall through
  }
  throw badUserInput('after', 'is not a cursor from this list');
}

const MAX_BIGINT = 9_223_372_036_854_775_807n;

/** A cursor position that is a PostgreSQL bigint (a posting sequence number), checked to fit its column. */
export function bigintPosition(value: string): string {
  if (!/^\d{1,19}$/.test(value) || BigInt(value) > MAX_BIGINT) throw badUserInput('after', 'is not a cursor from this list');
  return value;
}

/** Timestamps travel in cursors as PostgreSQL's own text, so no microsecond is lost (a JS Date keeps only ms). */
const CURSOR_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(?:[+-](\d{2})(?::?(\d{2}))?|Z)$/;

const daysInMonth = (year: number, month: number) =>
  month === 2 ? ((year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;

/**
 * A cursor position that is a timestamp, checked to be one PostgreSQL reads back: years 1 to 9999, a day that its
 * month has (JavaScript's parser takes February 30), hours 0-23, and an offset within PostgreSQL's +-15:59.
 */
export function timestampPosition(value: string): string {
  const match = CURSOR_TIMESTAMP.exec(value);
  const [year, month, day, hour, minute, second] = (match?.slice(1, 7) ?? []).map(Number) as number[];
  const [offsetHours, offsetMinutes] = [Number(match?.[8] ?? 0), Number(match?.[9] ?? 0)];
  const fits =
    match !== null &&
    year >= 1 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month) &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetHours <= 15 &&
    offsetMinutes <= 59;
  if (!fits) throw badUserInput('after', 'is not a cursor from this list');
  return value;
}

/** Splits a fetched page of `size + 1` rows into the page and whether another follows. */
export function slicePage<T>(rows: T[], size: number): { items: T[]; hasNextPage: boolean } {
  return { items: rows.slice(0, size), hasNextPage: rows.length > size };
}
