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

/** Splits a fetched page of `size + 1` rows into the page and whether another follows. */
export function slicePage<T>(rows: T[], size: number): { items: T[]; hasNextPage: boolean } {
  return { items: rows.slice(0, size), hasNextPage: rows.length > size };
}
