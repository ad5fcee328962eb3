/**
 * A SQL statement with named parameters (`:amount`, `:accountId`) instead of a row of `?` matched by position. It is
 * compiled once into the `?` form the ORM sends (so the text on the wire is what positional code would send) and
 * binds a typed object of values by name. A name used twice takes the same value twice. `::type` casts are not
 * parameters.
 */
export interface NamedStatement<P extends object> {
  /** The statement with `?` placeholders, as `em.execute` takes it. */
  readonly text: string;
  /** The parameter names in placeholder order. */
  readonly names: readonly (keyof P & string)[];
  /** The values for `text`, in placeholder order; a missing value is a programming error and throws. */
  bind(values: P): unknown[];
}

const PARAMETER = /(?<![:\w]):([a-z][A-Za-z0-9]*)/g;

export function namedStatement<P extends object>(sql: string): NamedStatement<P> {
  const names: (keyof P & string)[] = [];
  const text = sql.replace(PARAMETER, (_match, name: string) => {
    names.push(name as keyof P & string);
    return '?';
  });
  return {
    text,
    names,
    bind(values: P) {
      return names.map((name) => {
        const value = (values as Record<string, unknown>)[name];
        if (value === undefined) throw new Error(`SQL parameter :${name} has no value`);
        return value;
      });
    },
  };
}
