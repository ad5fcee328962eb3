import type { ApolloServerPlugin } from '@apollo/server';
import { ApolloArmor } from '@escape.tech/graphql-armor';
import { GraphQLError, type ASTVisitor, type ValidationContext } from 'graphql';

/**
 * An alias is repeated in every object of a list in the answer, and the cost estimate counts fields, not their
 * names' length: a long alias would multiply an answer's size for free. Real ones are short.
 */
export const MAX_ALIAS_LENGTH = 64;

const aliasLengthRule = (context: ValidationContext): ASTVisitor => ({
  Field(node) {
    if (node.alias && node.alias.value.length > MAX_ALIAS_LENGTH) {
      context.reportError(new GraphQLError(`Aliases are limited to ${MAX_ALIAS_LENGTH} characters`, { nodes: [node.alias] }));
    }
  },
});

/**
 * Static limits on every operation, checked while parsing (at most 1,000 tokens) and validating (depth, aliases and
 * their length, directives), before any resolver (or SQL) runs; the cost limit, which needs the request's variables, follows in
 * cost.ts once the operation is resolved.
 *
 * Tally's own operations stay well inside them: the deepest (`me { creditTransactions { edges { node { workshop
 * { id } } } } }`) is 6 levels, the longest about 75 tokens (Sandbox's introspection query about 160).
 * Fragments count as what they expand to. Introspection is exempt from depth so that Sandbox works in development
 * (production turns introspection off).
 */
export function operationLimits(options: { hideFieldSuggestions: boolean }) {
  const { plugins, validationRules } = new ApolloArmor({
    maxDepth: { n: 8, flattenFragments: true },
    // __typename too (armor exempts it by default): ten aliases of it on each object of a list are ten fields.
    maxAliases: { n: 10, allowList: [] },
    // graphql-js counts tokens itself (parseOptions below) and answers 400; armor's counter answers 500.
    maxTokens: { enabled: false },
    maxDirectives: { n: 20 },
    // The cost limit is ours (cost.ts): armor's reads list sizes only from literals, not variables or defaults.
    costLimit: { enabled: false },
    // "Did you mean ...?" tells a stranger the schema that production no longer lets them introspect.
    blockFieldSuggestion: { enabled: options.hideFieldSuggestions },
  }).protect();
  // graphql-armor's typings name @apollo/server's CommonJS build; the plugins themselves are plain objects.
  return { plugins: plugins as unknown as ApolloServerPlugin[], validationRules: [...validationRules, aliasLengthRule], parseOptions: { maxTokens: 1000 } };
}
