/** A row as the `pg` driver returns it: column name to value (timestamps as PostgreSQL text, bigints as strings). */
export type Row = Record<string, unknown>;

/** MikroORM expands array parameters into lists, so arrays travel as one PostgreSQL array literal. */
export const pgTextArray = (values: readonly string[]) =>
  `{${values.map((value) => `"${value.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;

export const nullableString = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
