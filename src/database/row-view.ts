/**
 * Read models: rows mapped straight to plain objects of the GraphQL type's shape. Hydrating entities (identity map,
 * reference wrappers, change tracking) was most of the CPU of a history page and a visible share of a consumption,
 * and nothing here needs it: ledger rows, the viewer's users row and the list pages change only through SQL. The
 * ORM's entities remain the schema's source (migrations, the schema differ) and serve the code that does use them.
 */

type Row = Record<string, unknown>;

const PG_UTC_TIMESTAMP = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?\+00$/;

/**
 * PostgreSQL's text form of a UTC timestamptz ('2026-11-24 09:30:00.123456+00', what the UTC sessions return) as
 * ISO-8601 ('2026-11-24T09:30:00.123Z'), milliseconds truncated as a Date truncates them; undefined for any other
 * form. A page of rows serializes hundreds of these, and going through a Date each time was a visible share of it.
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

const camelNames = new Map<string, string>();
const camel = (column: string) => {
  let name = camelNames.get(column);
  if (name === undefined) {
    name = column.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
    camelNames.set(column, name);
  }
  return name;
};

/**
 * snake_case columns to camelCase properties; foreign-key columns (`relations`: column -> property) become
 * `{ id }` references, as MikroORM exposes them, so field resolvers read `row.workshop?.id` either way.
 * Timestamps stay in PostgreSQL's text form; the DateTime scalar reads both that and Date.
 */
export function rowView<T extends object>(type: new () => T, row: Row, relations: Readonly<Record<string, string>>): T {
  const view: Row = {};
  for (const column in row) {
    const value = row[column];
    const relation = relations[column];
    if (relation !== undefined) view[relation] = value === null ? null : { id: value };
    else view[camel(column)] = typeof value === 'bigint' ? String(value) : value;
  }
  // An instance of the type without running its constructor (which would draw a fresh id): type-graphql passes
  // instances to field resolvers as they are, but rebuilds anything else through the constructor, row by row.
  // The properties are already the object's own, so the ORM's accessors on the prototype never run.
  return Object.setPrototypeOf(view, type.prototype) as T;
}

/** MikroORM expands array parameters into lists, so arrays travel as one PostgreSQL array literal. */
export const pgTextArray = (values: readonly string[]) =>
  `{${values.map((value) => `"${value.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
