import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, getNamedType, getNullableType, isLeafType, isListType, Kind, visit, type DocumentNode, type GraphQLField, type GraphQLSchema } from 'graphql';
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';
import type { RequestContext } from '../core/context.js';
import { DEFAULT_PAGE_SIZE } from '../core/pagination.js';

/**
 * The operation cost limit. Before anything runs, an operation's cost is estimated from the schema and the request's
 * real arguments (variables, and defaults where `first` is omitted), multiplied through nested lists: every field
 * costs its declared units (core/cost.ts; one by default, a value of at most 100 bytes), and a list multiplies what
 * it contains by its size (`first`, or the most it returns). Operations above MAX_COST are refused, so a response
 * is at most about MAX_COST x 100 bytes (under MAX_RESPONSE_BYTES) and resolves at most MAX_COST objects. `__typename`
 * costs a unit like any field, and every object in a list costs at least one, so a list of objects that select almost
 * nothing still counts its length. A response that would still come out larger than MAX_RESPONSE_BYTES is replaced
 * by an error (the backstop; the estimate should never let one through).
 */
export const MAX_COST = 10_000;
export const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Below this estimate a response cannot approach MAX_RESPONSE_BYTES, so it is not measured. */
const MEASURE_ABOVE_COST = 3_000;

const firstArgument = (field: GraphQLField<unknown, unknown>) => field.args.find((arg) => arg.name === 'first');

const estimator: ComplexityEstimator = ({ field, args, childComplexity }) => {
  // Introspection (Apollo Sandbox, development only) is small and fixed; __typename is a field like any other.
  if (field.name.startsWith('__')) return field.name === '__typename' ? 1 : 0;
  const extensions = field.extensions as { cost?: number; listSize?: number };
  const weight = extensions.cost ?? 1;
  const first = firstArgument(field);
  let size = 1;
  if (first) {
    const value = args.first ?? first.defaultValue ?? DEFAULT_PAGE_SIZE;
    size = typeof value === 'number' && value > 0 ? value : DEFAULT_PAGE_SIZE;
  } else if (isListType(getNullableType(field.type))) {
    size = extensions.listSize ?? DEFAULT_PAGE_SIZE;
  }
  const each = isLeafType(getNamedType(field.type)) ? (isListType(getNullableType(field.type)) ? 1 : 0) : Math.max(1, childComplexity);
  return weight + size * each;
};

/** The cost of one operation of `document`, with its variables. */
export const estimateCost = (schema: GraphQLSchema, document: DocumentNode, variables?: Record<string, unknown>, operationName?: string | null) =>
  getComplexity({ schema, query: document, variables, operationName: operationName ?? undefined, estimators: [estimator], maxQueryNodes: 20_000 });

/**
 * Whether an operation's cost could change with its variables: only a variable in a `first` argument (a list's size)
 * or in a directive (`@include(if: $x)`, `@skip`) moves it. Other variables (a mutation's `input`) never do.
 */
function costReadsVariables(document: DocumentNode): boolean {
  let reads = false;
  const hasVariable = (node: object) => {
    let found = false;
    visit(node as DocumentNode, { Variable: () => void (found = true) });
    return found;
  };
  visit(document, {
    Argument(node) {
      if (node.name.value === 'first' && hasVariable(node.value)) reads = true;
    },
    Directive(node) {
      if ((node.arguments ?? []).some((argument) => hasVariable(argument.value))) reads = true;
    },
    [Kind.VARIABLE_DEFINITION]: () => undefined,
  });
  return reads;
}

/**
 * The costs of parsed documents whose cost does not depend on their variables, per operation name. Apollo keeps one
 * parsed document per distinct query text (its document store), so a client's repeated operation is estimated once;
 * the map holds nothing once the document store lets a document go.
 */
const fixedCosts = new WeakMap<DocumentNode, Map<string, number>>();

function costOf(schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown> | undefined, operationName: string | null | undefined): number {
  let known = fixedCosts.get(document);
  const key = operationName ?? '';
  const cached = known?.get(key);
  if (cached !== undefined) return cached;
  const cost = estimateCost(schema, document, variables, operationName);
  if (!costReadsVariables(document)) {
    if (!known) fixedCosts.set(document, (known = new Map()));
    known.set(key, cost);
  }
  return cost;
}

const refused = (message: string, extensions: Record<string, unknown>) =>
  new GraphQLError(message, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED', ...extensions, http: { status: 400 } } });

export function operationCostPlugin(): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      let cost = 0;
      return {
        async didResolveOperation({ request, document, schema, operationName }) {
          try {
            cost = costOf(schema, document, request.variables, operationName);
          } catch (error) {
            // Variables that do not fit their types: execution reports them as BAD_USER_INPUT, with their path.
            if (error instanceof GraphQLError && /Variable/.test(error.message)) return;
            if (error instanceof GraphQLError) throw refused(error.message, {});
            throw error;
          }
          if (cost > MAX_COST) {
            throw refused(`Operation cost ${cost.toLocaleString('en-US')} exceeds the limit of ${MAX_COST.toLocaleString('en-US')}; ask for smaller pages or fewer fields`, {
              cost,
              maxCost: MAX_COST,
            });
          }
        },
        async willSendResponse({ response }) {
          if (cost <= MEASURE_ABOVE_COST || response.body.kind !== 'single') return;
          const bytes = Buffer.byteLength(JSON.stringify(response.body.singleResult));
          if (bytes <= MAX_RESPONSE_BYTES) return;
          response.body.singleResult = {
            errors: [{ message: `The response would be ${bytes} bytes, over the limit of ${MAX_RESPONSE_BYTES}`, extensions: { code: 'RESPONSE_TOO_LARGE', bytes, maxBytes: MAX_RESPONSE_BYTES } }],
          };
        },
      };
    },
  };
}
