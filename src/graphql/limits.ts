import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';

/**
 * Static limits on every operation, checked while parsing (at most 1,000 tokens) and validating (depth, aliases,
 * directives, cost), before any resolver (or SQL) runs.
 *
 * Tally's own operations stay well inside them: the deepest (`me { creditTransactions { edges { node { workshop
 * { id } } } } }`) is 6 levels, the longest about 75 tokens (Sandbox's introspection query about 160). A literal
 * `first: 100` page of every ledger field with each row's workshop costs about 10,700 (armor multiplies by a literal
 * `first`), so 20,000 allows one or two full pages per request, not more.
 * Fragments count as what they expand to. Introspection is exempt from depth and cost so that Sandbox works in
 * development (production turns introspection off).
 */
export function operationLimits(options: { hideFieldSuggestions: boolean }) {
  const { plugins, validationRules } = new ApolloArmor({
    maxDepth: { n: 8, flattenFragments: true },
    maxAliases: { n: 10 },
    // graphql-js counts tokens itself (parseOptions below) and answers 400; armor's counter answers 500.
    maxTokens: { enabled: false },
    maxDirectives: { n: 20 },
    costLimit: { maxCost: 20_000, flattenFragments: true },
    // "Did you mean ...?" tells a stranger the schema that production no longer lets them introspect.
    blockFieldSuggestion: { enabled: options.hideFieldSuggestions },
  }).protect();
  // graphql-armor's typings name @apollo/server's CommonJS build; the plugins themselves are plain objects.
  return { plugins: plugins as unknown as ApolloServerPlugin[], validationRules, parseOptions: { maxTokens: 1000 } };
}
