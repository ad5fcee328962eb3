/**
 * Whether a SQL statement stays on one account, as a schema distributed by account (Citus-style: every account-keyed
 * table sharded on the account, co-located) needs: each reference to an account-keyed table must be pinned to the
 * account, by an equality of its account column with the account's id, or by an equality of its account column with
 * that of a reference already pinned (a join on the distribution column, also through a CTE or subquery that returns
 * one), and each row inserted into one must carry the account. Reference tables (copied to every node) are free.
 *
 * It reads the statements as PostgreSQL received them (values inlined, see statements.ts), parsing enough of the
 * SQL for this: parentheses, WITH, SELECT/INSERT/UPDATE/DELETE, FROM and JOIN lists with aliases, subqueries,
 * and the equalities among a WHERE's or an ON's top-level AND terms. A condition under OR pins nothing.
 */

/** Each account-keyed table and its account column (the distribution column); null: it has none. */
export const ACCOUNT_KEYED: Readonly<Record<string, string | null>> = {
  accounts: 'id',
  users: 'id', // a user's id is their personal account's
  organizations: 'id', // an organization's id is its account's
  organization_members: 'organization_id',
  credit_transactions: 'account_id',
  credit_grants: 'account_id',
  credit_allocations: null, // no account column: see test/internals/distributable.test.ts
  reservations: 'account_id',
  events: 'account_id',
  workshops: 'account_id',
  auto_recharge_attempts: 'account_id',
};

/** Small tables every node would hold a copy of (Citus reference tables). */
export const REFERENCE_TABLES: ReadonlySet<string> = new Set(['credit_packs', 'plans']);

// --- Tokens and parentheses -----------------------------------------------------------------------------------------

interface Token {
  kind: 'word' | 'string' | 'number' | 'punct';
  text: string;
}
interface Group {
  kind: 'group';
  items: Node[];
}
type Node = Token | Group;

function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (sql.startsWith('--', i)) {
      i = sql.indexOf('\n', i) === -1 ? sql.length : sql.indexOf('\n', i);
    } else if (sql.startsWith('/*', i)) {
      i = sql.indexOf('*/', i) === -1 ? sql.length : sql.indexOf('*/', i) + 2;
    } else if (c === "'") {
      let text = '';
      i++;
      while (i < sql.length) {
        if (sql[i] === "'" && sql[i + 1] === "'") {
          text += "'";
          i += 2;
        } else if (sql[i] === "'") {
          i++;
          break;
        } else {
          text += sql[i++];
        }
      }
      tokens.push({ kind: 'string', text });
    } else if (c === '"') {
      const end = sql.indexOf('"', i + 1);
      tokens.push({ kind: 'word', text: sql.slice(i + 1, end) });
      i = end + 1;
    } else if (/[A-Za-z_]/.test(c)) {
      const match = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(sql.slice(i))![0];
      tokens.push({ kind: 'word', text: match.toLowerCase() });
      i += match.length;
    } else if (/[0-9]/.test(c)) {
      const match = /^[0-9]+(\.[0-9]+)?/.exec(sql.slice(i))![0];
      tokens.push({ kind: 'number', text: match });
      i += match.length;
    } else {
      const op = ['::', '<=', '>=', '<>', '!=', '||', '->>', '->'].find((candidate) => sql.startsWith(candidate, i)) ?? c;
      tokens.push({ kind: 'punct', text: op });
      i += op.length;
    }
  }
  return tokens;
}

function nest(tokens: Token[]): Node[] {
  const stack: Node[][] = [[]];
  for (const token of tokens) {
    if (token.kind === 'punct' && token.text === '(') {
      stack.push([]);
    } else if (token.kind === 'punct' && token.text === ')') {
      const items = stack.pop()!;
      stack.at(-1)!.push({ kind: 'group', items });
    } else {
      stack.at(-1)!.push(token);
    }
  }
  if (stack.length !== 1) throw new Error('unbalanced parentheses');
  return stack[0]!;
}

const isGroup = (node: Node | undefined): node is Group => node?.kind === 'group';
const isWord = (node: Node | undefined, ...words: string[]): node is Token =>
  node !== undefined && node.kind === 'word' && (words.length === 0 || words.includes(node.text));
const isPunct = (node: Node | undefined, text: string): boolean => node !== undefined && node.kind === 'punct' && node.text === text;
const startsQuery = (group: Group) => isWord(group.items[0], 'select', 'with', 'insert', 'update', 'delete');

/** Splits `items` at top-level occurrences of `separator` (a punctuation mark or a keyword). */
function split(items: Node[], separator: string): Node[][] {
  const parts: Node[][] = [[]];
  for (const item of items) {
    if ((item.kind === 'punct' || item.kind === 'word') && item.text === separator) parts.push([]);
    else parts.at(-1)!.push(item);
  }
  return parts;
}

const KEYWORDS = new Set([
  'select', 'from', 'where', 'group', 'order', 'limit', 'offset', 'having', 'window', 'for', 'union', 'except',
  'intersect', 'returning', 'join', 'left', 'right', 'inner', 'outer', 'full', 'cross', 'natural', 'on', 'using',
  'lateral', 'set', 'values', 'and', 'or', 'not', 'as', 'fetch', 'with', 'insert', 'update', 'delete', 'into',
]);

// --- Relations in scope and the pinning rules ------------------------------------------------------------------------

interface Relation {
  /** The table's name, or the CTE's / subquery's alias, or a function's. */
  name: string;
  kind: 'table' | 'derived' | 'function';
  /** For an account-keyed table: its account column. */
  key?: string | null;
  /** For a derived relation: the account columns it returns from pinned relations. */
  keyColumns?: Set<string>;
  accountKeyed: boolean;
  pinned: boolean;
}

export interface Analysis {
  /** What keeps the statement off one account: empty when it stays on it. */
  problems: string[];
}

interface Scope {
  ctes: Map<string, Relation>;
  outer: Map<string, Relation>;
}

interface BlockResult {
  /** Account columns the block returns (select list or RETURNING), from pinned relations. */
  keyColumns: Set<string>;
  accountKeyed: boolean;
  pinned: boolean;
}

/** Analyses one statement as sent for `accountId`. */
export function analyzeStatement(sql: string, accountId: string): Analysis {
  const problems: string[] = [];
  let items: Node[];
  try {
    items = nest(tokenize(sql));
  } catch (error) {
    return { problems: [`cannot be read: ${String(error)}`] };
  }
  new Analyzer(accountId, problems).block(items, { ctes: new Map(), outer: new Map() });
  return { problems };
}

class Analyzer {
  /** Groups already analysed as FROM-list relations (subqueries, functions' arguments): `nested` passes them by. */
  private readonly analyzed = new WeakSet<Group>();

  constructor(
    private readonly accountId: string,
    private readonly problems: string[],
  ) {}

  block(items: Node[], scope: Scope): BlockResult {
    let rest = items;
    const ctes = new Map(scope.ctes);
    if (isWord(rest[0], 'with')) {
      let i = 1;
      if (isWord(rest[i], 'recursive')) i++;
      for (;;) {
        const name = rest[i] as Token;
        i++;
        if (isGroup(rest[i]) && isWord(rest[i + 1], 'as')) i++; // a column list
        i++; // as
        if (isWord(rest[i], 'not')) i++;
        if (isWord(rest[i], 'materialized')) i++;
        const body = rest[i] as Group;
        i++;
        const result = this.block(body.items, { ctes, outer: scope.outer });
        ctes.set(name.text, { name: name.text, kind: 'derived', keyColumns: result.keyColumns, accountKeyed: result.accountKeyed, pinned: result.pinned });
        if (isPunct(rest[i], ',')) {
          i++;
          continue;
        }
        break;
      }
      rest = rest.slice(i);
    }
    const inner: Scope = { ctes, outer: scope.outer };
    const first = rest[0];
    if (isWord(first, 'select')) return this.select(rest, inner);
    if (isWord(first, 'update')) return this.update(rest, inner);
    if (isWord(first, 'delete')) return this.delete(rest, inner);
    if (isWord(first, 'insert')) return this.insert(rest, inner);
    if (isGroup(first) && startsQuery(first)) return this.block(first.items, inner);
    // begin, commit, rollback, savepoint, set...: no table.
    return { keyColumns: new Set(), accountKeyed: false, pinned: true };
  }

  /** The relation a table name, CTE name or subquery stands for. */
  private relationOf(node: Node, following: Node | undefined, scope: Scope): { relation: Relation; consumed: number } {
    if (isGroup(node)) {
      this.analyzed.add(node);
      const result = startsQuery(node) ? this.block(node.items, scope) : { keyColumns: new Set<string>(), accountKeyed: false, pinned: true };
      return { relation: { name: '(subquery)', kind: 'derived', ...result }, consumed: 1 };
    }
    const word = node as Token;
    if (isGroup(following)) {
      // A set-returning function: generate_series(...), unnest(...), json_to_recordset(...). Its arguments may hold queries.
      this.analyzed.add(following);
      this.nested(following.items, scope, new Map());
      return { relation: { name: word.text, kind: 'function', accountKeyed: false, pinned: true }, consumed: 2 };
    }
    const cte = scope.ctes.get(word.text);
    if (cte) return { relation: { ...cte }, consumed: 1 };
    const name = word.text;
    if (name in ACCOUNT_KEYED) return { relation: { name, kind: 'table', key: ACCOUNT_KEYED[name], accountKeyed: true, pinned: false }, consumed: 1 };
    if (REFERENCE_TABLES.has(name)) return { relation: { name, kind: 'table', accountKeyed: false, pinned: true }, consumed: 1 };
    this.problems.push(`${name} is neither account-keyed nor a reference table`);
    return { relation: { name, kind: 'table', accountKeyed: false, pinned: true }, consumed: 1 };
  }

  /** Parses a FROM (or USING) list into `relations`; returns the ON conditions. */
  private fromList(items: Node[], scope: Scope, relations: Map<string, Relation>): Node[][] {
    const conditions: Node[][] = [];
    let i = 0;
    while (i < items.length) {
      const item = items[i]!;
      if (isPunct(item, ',') || isWord(item, 'join', 'left', 'right', 'inner', 'outer', 'full', 'cross', 'natural', 'lateral')) {
        i++;
        continue;
      }
      if (isWord(item, 'on')) {
        const end = items.findIndex((node, index) => index > i && (isPunct(node, ',') || isWord(node, 'join', 'left', 'right', 'inner', 'full', 'cross', 'natural')));
        conditions.push(items.slice(i + 1, end === -1 ? items.length : end));
        i = end === -1 ? items.length : end;
        continue;
      }
      if (isWord(item, 'using')) {
        i += 2;
        continue;
      }
      const { relation, consumed } = this.relationOf(item, items[i + 1], scope);
      i += consumed;
      if (isWord(items[i], 'as')) i++;
      let alias = relation.name;
      if (isWord(items[i]) && !KEYWORDS.has((items[i] as Token).text)) {
        alias = (items[i] as Token).text;
        i++;
      }
      if (isGroup(items[i])) i++; // column aliases: d(grant_id text, amount int)
      relations.set(alias, relation);
    }
    return conditions;
  }

  /** Clause boundaries at the top level: the index of each keyword's first occurrence. */
  private clauses(items: Node[], keywords: string[]): Map<string, number> {
    const found = new Map<string, number>();
    items.forEach((node, index) => {
      if (isWord(node) && keywords.includes(node.text) && !found.has(node.text)) found.set(node.text, index);
    });
    return found;
  }

  private slice(items: Node[], at: Map<string, number>, keyword: string, skip = 1): Node[] {
    const start = at.get(keyword);
    if (start === undefined) return [];
    const ends = [...at.values()].filter((index) => index > start);
    return items.slice(start + skip, ends.length > 0 ? Math.min(...ends) : items.length);
  }

  private select(all: Node[], scope: Scope): BlockResult {
    // A UNION's (EXCEPT's, INTERSECT's) other branches are statements of their own.
    const setOperation = all.findIndex((node) => isWord(node, 'union', 'except', 'intersect'));
    const items = setOperation === -1 ? all : all.slice(0, setOperation);
    if (setOperation !== -1) this.block(all.slice(setOperation + 1).filter((node, index) => index > 0 || !isWord(node, 'all', 'distinct')), scope);
    const at = this.clauses(items, ['select', 'from', 'where', 'group', 'order', 'limit', 'offset', 'having', 'window', 'for']);
    const relations = new Map<string, Relation>();
    const conditions = this.fromList(this.slice(items, at, 'from'), scope, relations);
    const where = this.slice(items, at, 'where');
    this.pin(relations, [where, ...conditions], scope);
    this.report(relations);
    this.nested(items, scope, relations);
    return this.result(relations, this.slice(items, at, 'select'));
  }

  private update(items: Node[], scope: Scope): BlockResult {
    const at = this.clauses(items, ['set', 'from', 'where', 'returning']);
    const relations = new Map<string, Relation>();
    this.fromList(items.slice(1, at.get('set')), scope, relations);
    const target = [...relations.keys()][0]!;
    const conditions = this.fromList(this.slice(items, at, 'from'), scope, relations);
    this.pin(relations, [this.slice(items, at, 'where'), ...conditions], scope);
    this.report(relations, target);
    this.nested(items, scope, relations);
    return this.result(relations, this.slice(items, at, 'returning'));
  }

  private delete(items: Node[], scope: Scope): BlockResult {
    const at = this.clauses(items, ['from', 'using', 'where', 'returning']);
    const relations = new Map<string, Relation>();
    const to = Math.min(...['using', 'where', 'returning'].map((keyword) => at.get(keyword) ?? items.length));
    this.fromList(items.slice((at.get('from') ?? 0) + 1, to), scope, relations);
    const target = [...relations.keys()][0]!;
    const conditions = this.fromList(this.slice(items, at, 'using'), scope, relations);
    this.pin(relations, [this.slice(items, at, 'where'), ...conditions], scope);
    this.report(relations, target);
    this.nested(items, scope, relations);
    return this.result(relations, this.slice(items, at, 'returning'));
  }

  private insert(items: Node[], scope: Scope): BlockResult {
    // insert into <table> [as alias] (columns) values (...) | select ... [on conflict ...] [returning ...]
    const table = (items[2] as Token).text;
    let i = 3;
    if (isWord(items[i], 'as')) i += 2;
    const columns = isGroup(items[i]) ? split((items[i] as Group).items, ',').map((part) => (part[0] as Token).text) : [];
    if (isGroup(items[i])) i++;
    const conflict = items.findIndex((node, index) => index >= i && isWord(node, 'on') && isWord(items[index + 1], 'conflict'));
    const returning = items.findIndex((node, index) => index >= i && isWord(node, 'returning'));
    const sourceEnd = [conflict, returning].filter((index) => index !== -1);
    const source = items.slice(i, sourceEnd.length > 0 ? Math.min(...sourceEnd) : items.length);
    const relation = this.relationOf({ kind: 'word', text: table }, undefined, scope).relation;

    // What each inserted row's account column holds: a value list's entry, or a SELECT's expression.
    const values: { expression: Node[]; relations: Map<string, Relation> }[] = [];
    if (isWord(source[0], 'values')) {
      for (const row of source.slice(1).filter(isGroup)) {
        this.nested(row.items, scope, new Map());
        for (const [index, expression] of split(row.items, ',').entries()) if (columns[index] === relation.key) values.push({ expression, relations: new Map() });
      }
    } else if (isWord(source[0], 'select')) {
      const at = this.clauses(source, ['select', 'from', 'where', 'group', 'order', 'limit', 'offset', 'having', 'window', 'for']);
      const relations = new Map<string, Relation>();
      const conditions = this.fromList(this.slice(source, at, 'from'), scope, relations);
      this.pin(relations, [this.slice(source, at, 'where'), ...conditions], scope);
      this.report(relations);
      this.nested(source, scope, relations);
      const list = split(this.slice(source, at, 'select'), ',');
      const index = columns.indexOf(relation.key ?? '');
      if (index >= 0 && list[index]) values.push({ expression: list[index]!, relations });
    } else {
      this.problems.push(`insert into ${table}: a source this check does not read`);
    }
    if (relation.accountKeyed) {
      if (!relation.key) this.problems.push(`insert into ${table}: the table has no account column`);
      else if (values.length === 0) this.problems.push(`insert into ${table}: no ${relation.key} given`);
      else for (const value of values) if (!this.isAccountValue(value.expression, value.relations, scope)) this.problems.push(`insert into ${table}: ${relation.key} is not the account`);
    }
    if (conflict !== -1) this.nested(items.slice(conflict), scope, new Map([[table, { ...relation, pinned: true }]]));
    return {
      keyColumns: returning === -1 ? new Set() : this.returnedKeys(new Map([[table, { ...relation, pinned: true }]]), items.slice(returning + 1)),
      accountKeyed: relation.accountKeyed,
      pinned: true,
    };
  }

  /** Analyses every subquery among `items` (in select lists, conditions, SET clauses), with `relations` as its outer scope. */
  private nested(items: Node[], scope: Scope, relations: Map<string, Relation>) {
    const outer = new Map([...scope.outer, ...relations]);
    const visit = (nodes: Node[]) => {
      for (const node of nodes) {
        if (!isGroup(node) || this.analyzed.has(node)) continue;
        if (startsQuery(node)) this.block(node.items, { ctes: scope.ctes, outer });
        else visit(node.items);
      }
    };
    visit(items);
  }

  /** Pins relations by the equalities of `clauses` (each a WHERE or ON), to the account or to pinned account columns. */
  private pin(relations: Map<string, Relation>, clauses: Node[][], scope: Scope) {
    const equalities: [Node[], Node[]][] = [];
    for (const clause of clauses) {
      if (clause.some((node) => isWord(node, 'or'))) continue;
      for (const term of split(clause, 'and')) {
        const eq = term.findIndex((node) => isPunct(node, '='));
        if (eq > 0) equalities.push([term.slice(0, eq), term.slice(eq + 1)]);
      }
    }
    for (let changed = true; changed; ) {
      changed = false;
      for (const [left, right] of equalities) {
        for (const [a, b] of [
          [left, right],
          [right, left],
        ] as const) {
          const column = this.column(a, relations, scope);
          if (!column || column.relation.pinned || !this.isKeyColumn(column.relation, column.name)) continue;
          if (this.isAccountValue(b, relations, scope)) {
            column.relation.pinned = true;
            changed = true;
          }
        }
      }
    }
  }

  /** Whether `expression` is the account: its id as a literal, or the account column of a pinned relation. */
  private isAccountValue(expression: Node[], relations: Map<string, Relation>, scope: Scope): boolean {
    const bare = expression.length >= 3 && isPunct(expression[expression.length - 2], '::') ? expression.slice(0, -2) : expression;
    if (bare.length === 1 && bare[0]!.kind === 'string') return (bare[0] as Token).text === this.accountId;
    const column = this.column(bare, relations, scope);
    return column !== undefined && column.relation.pinned && this.isKeyColumn(column.relation, column.name);
  }

  private isKeyColumn(relation: Relation, column: string): boolean {
    if (relation.kind === 'table') return relation.key === column;
    return relation.keyColumns?.has(column) ?? false;
  }

  /** The relation and column `expression` names (`alias.column` or an unambiguous `column`). */
  private column(expression: Node[], relations: Map<string, Relation>, scope: Scope): { relation: Relation; name: string } | undefined {
    const bare = expression.length >= 3 && isPunct(expression[expression.length - 2], '::') ? expression.slice(0, -2) : expression;
    if (bare.length === 3 && isWord(bare[0]) && isPunct(bare[1], '.') && isWord(bare[2])) {
      const relation = relations.get((bare[0] as Token).text) ?? scope.outer.get((bare[0] as Token).text);
      return relation ? { relation, name: (bare[2] as Token).text } : undefined;
    }
    if (bare.length === 1 && isWord(bare[0]) && !KEYWORDS.has((bare[0] as Token).text)) {
      const name = (bare[0] as Token).text;
      const all = [...relations.values()];
      const candidates = all.filter((relation) => this.isKeyColumn(relation, name));
      if (candidates.length === 1) return { relation: candidates[0]!, name };
      if (all.length === 1) return { relation: all[0]!, name };
    }
    return undefined;
  }

  private report(relations: Map<string, Relation>, target?: string) {
    for (const [alias, relation] of relations) {
      if (relation.kind !== 'table' || !relation.accountKeyed) continue;
      const named = alias === relation.name ? relation.name : `${relation.name} ${alias}`;
      const what = alias === target ? `${named} (changed)` : named;
      if (relation.key === null) this.problems.push(`${what}: the table has no account column`);
      else if (!relation.pinned) this.problems.push(`${what} is not filtered on ${relation.key} = the account`);
    }
  }

  private result(relations: Map<string, Relation>, list: Node[]): BlockResult {
    const all = [...relations.values()];
    return {
      keyColumns: this.returnedKeys(relations, list),
      accountKeyed: all.some((relation) => relation.accountKeyed),
      pinned: all.every((relation) => !relation.accountKeyed || relation.pinned),
    };
  }

  /** The account columns a select list or RETURNING list passes on from pinned relations. */
  private returnedKeys(relations: Map<string, Relation>, list: Node[]): Set<string> {
    const keys = new Set<string>();
    const scope: Scope = { ctes: new Map(), outer: new Map() };
    for (const item of split(list, ',')) {
      if (item.length === 0) continue;
      const last = item.at(-1);
      if (isPunct(last, '*')) {
        const owner = item.length === 3 ? relations.get((item[0] as Token).text) : undefined;
        for (const relation of owner ? [owner] : [...relations.values()]) {
          if (!relation.pinned) continue;
          if (relation.kind === 'table' && relation.key) keys.add(relation.key);
          for (const key of relation.keyColumns ?? []) keys.add(key);
        }
        continue;
      }
      const as = item.findIndex((node) => isWord(node, 'as'));
      const expression = as === -1 ? item : item.slice(0, as);
      const column = this.column(expression, relations, scope);
      if (column && column.relation.pinned && this.isKeyColumn(column.relation, column.name)) {
        keys.add(as === -1 ? column.name : (item[as + 1] as Token).text);
      }
    }
    return keys;
  }
}
