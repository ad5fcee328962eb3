import { GraphQLScalarType, Kind } from 'graphql';
import { pgTimestamp, pgTimestampIso } from '../database/row-view.js';

const parse = (value: unknown): Date => {
  if (typeof value !== 'string') throw new TypeError('DateTime must be an ISO-8601 string');
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) || Number.isNaN(date.getTime())) {
    throw new TypeError(`DateTime must be an ISO-8601 string, got "${value}"`);
  }
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
