import type { ApolloServerPlugin, GraphQLRequestContextWillSendResponse } from '@apollo/server';
import type { RequestContext } from '../core/context.js';
import { rootFields } from './root-fields.js';
import type { Metrics } from '../ops/metrics.js';
import { currentRequestScope } from '../request-scope.js';

/** The mutations that move (or reserve) credits, by the ledger operation they perform. */
const LEDGER_OPERATIONS: Record<string, string> = {
  consumeCredits: 'consume',
  consumeWorkshopCredit: 'consume_workshop',
  grantCredits: 'grant',
  refundCredits: 'refund',
  createCheckoutSession: 'checkout',
};

type ResponseContext = GraphQLRequestContextWillSendResponse<RequestContext>;

function resultOf(response: ResponseContext['response']) {
  return response.body.kind === 'single' ? response.body.singleResult : response.body.initialResult;
}

/** Each ledger mutation's outcome: `ok`, or the code of the error at its path (or of the whole request's error). */
function recordLedgerOutcomes(metrics: Metrics, { operation, document, response }: ResponseContext) {
  if (operation?.operation !== 'mutation') return;
  const { data, errors = [] } = resultOf(response);
  for (const field of rootFields(operation, document)) {
    const ledgerOperation = LEDGER_OPERATIONS[field.name];
    if (!ledgerOperation) continue;
    const error = errors.find((e) => e.path?.[0] === field.responseKey) ?? (data?.[field.responseKey] == null ? errors[0] : undefined);
    const code = error?.extensions?.code;
    const outcome = !error ? 'ok' : typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
    metrics.ledgerOperations.inc({ operation: ledgerOperation, outcome });
  }
}

/** Request latency by operation and ledger outcomes; also tells the access log which operation a request ran. */
export function graphqlMetricsPlugin(metrics: Metrics): ApolloServerPlugin<RequestContext> {
  return {
    async requestDidStart() {
      const startedAt = currentRequestScope()?.startedAt ?? performance.now();
      return {
        async didResolveOperation({ operationName }) {
          const scope = currentRequestScope();
          if (scope && operationName) scope.operationName = operationName;
        },
        async willSendResponse(context) {
          const name = context.operationName ?? context.request.operationName;
          metrics.graphqlDuration.observe(
            {
              // Only signed-in callers' names take label slots: a stranger cannot fill them and push real operations
              // into `other`.
              operation_name: !name ? 'anonymous' : context.contextValue.viewer ? metrics.boundedLabel('operation_name', name) : 'unauthenticated',
              operation_type: context.operation?.operation ?? 'unknown',
              result: resultOf(context.response).errors?.length ? 'error' : 'ok',
            },
            (performance.now() - startedAt) / 1000,
          );
          recordLedgerOutcomes(metrics, context);
        },
      };
    },
  };
}
