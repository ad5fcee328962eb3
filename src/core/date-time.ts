import { GraphQLScalarType, Kind } from 'graphql';

/**
 * A timestamptz as PostgreSQL writes it in a UTC session ('2026-11-24 09:30:00.123456+00'): what every read model
 * carries, because rows come from SQL and this text keeps the microseconds a Date would drop (cursors need them).
 */
export type PgTimestamp = string;

const PG_UTC_TIMESTAMP = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?\+00$/;

/**
 * PostgreSQL's text form of a UTC timestamptz as ISO-8601 ('2026-11-24T09:30:00.123Z'), milliseconds truncated as
 * a Date truncates them; undefined for any other form. A page of rows serializes hundreds of these, and going
 * through a Date each time was a visible share of it.
 */
export function pgTimestampIso(value: string): string | undefined {
  const match = PG_UTC_TIMESTAMP.exec(value);
  if (!match) return undefined;
  return `${match[1]}T${match[2]}.${(match[3] ?? '').padEnd(3, '0').slice(0, 3)}Z`;
}

/** PostgreSQL's text form of a timestamptz ('2026-11-24 09:30:00.123456+00') as a Date. */
export function pgTimestamp(value: string): Date {
  return new Date(value.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00'));
}

/** The instant a model timestamp stands for, whichever form it is in. */
export const toDate = (value: PgTimestamp | Date): Date => (value instanceof Date ? value : pgTimestamp(value));

/** The earliest and latest instants Tally accepts: years 1 to 9999, what PostgreSQL and ISO-8601 both write plainly. */
export const MIN_DATE = new Date('0001-01-01T00:00:00.000Z');
export const MAX_DATE = new Date('9999-12-31T23:59:59.999Z');

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

const parse = (value: unknown): Date => {
  if (typeof value !== 'string') throw new TypeError('DateTime must be an ISO-8601 string');
  if (value.length > 64 || !ISO_8601.test(value)) throw new TypeError('DateTime must be an ISO-8601 string, e.g. 2026-11-24T09:30:00Z');
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new TypeError('DateTime must be a real date and time');
  if (date < MIN_DATE || date > MAX_DATE) throw new TypeError('DateTime must be within the years 0001 to 9999');
  return date;
};

export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An ISO-8601 date-time string in UTC, e.g. 2026-11-24T09:30:00.000Z',
  serialize(value) {
    const iso = typeof value === 'string' ? pgTimestampIso(value) : undefined;
    if (iso !== undefined) return iso;
    const date = value instanceof Date ? value : typeof value === 'string' ? pgTimestamp(value) : new Date(String(value));
    if (Number.isNaN(date.getTime())) throw new TypeError('DateTime cannot represent an invalid date');
    return date.toISOString();
  },
  parseValue: parse,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw new TypeError('DateTime must be an ISO-8601 string');
    return parse(ast.value);
  },
});
