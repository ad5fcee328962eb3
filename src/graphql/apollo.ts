import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLSchema } from 'graphql';
import { ErrorCode, isDomainError } from '../core/errors.js';
import { isDatabaseUnavailable } from '../database/pg-errors.js';
import type { RequestContext } from '../core/context.js';
import type { Metrics } from '../ops/metrics.js';
import { operationCostPlugin } from './cost.js';
import { inputHygienePlugin } from './input-hygiene.js';
import { createErrorFormatter } from './format-error.js';
import { graphqlMetricsPlugin } from './graphql-metrics.js';
import { operationLimits } from './limits.js';
import type { RateLimiter } from './rate-limit.js';
import type { Services } from './services.js';

/**
 * A request that could not be served because the database is unreachable answers HTTP 503, wherever that was found
 * (building the context, or a resolver), so that load balancers and clients retry as they would for any 503.
 */
function unavailableStatusPlugin(): ApolloServerPlugin<RequestContext> {
  const unavailable = (error: unknown) => {
    const original = unwrapResolverError(error);
    return isDatabaseUnavailable(original) || isDomainError(original, ErrorCode.SERVICE_UNAVAILABLE);
  };
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, response }) {
          if (errors.some(unavailable) && response.http) response.http.status = 503;
        },
      };
    },
  };
}

/** Apollo with Tally's guards: no batching, CSRF prevention, operation limits, a per-user mutation rate limit. */
export function createApolloServer(
  { config, log }: Services,
  schema: GraphQLSchema,
  metrics: Metrics,
  rateLimiter: RateLimiter,
): ApolloServer<RequestContext> {
  const limits = operationLimits({ hideFieldSuggestions: config.isProduction });
  const plugins: (ApolloServerPlugin<RequestContext> | undefined)[] = [
    config.isProduction ? ApolloServerPluginLandingPageDisabled() : ApolloServerPluginLandingPageLocalDefault({ embed: true }),
    // We set no cache hints and report to no Apollo service; the built-in plugins for them would otherwise wrap
    // every resolver of every request (a measurable share of a 50-row history page).
    ApolloServerPluginCacheControlDisabled(),
    ApolloServerPluginInlineTraceDisabled(),
    ApolloServerPluginUsageReportingDisabled(),
    graphqlMetricsPlugin(metrics),
    rateLimiter.plugin(),
    ...limits.plugins,
    operationCostPlugin(),
    inputHygienePlugin(),
    unavailableStatusPlugin(),
  ];
  return new ApolloServer<RequestContext>({
    schema,
    logger: log,
    introspection: !config.isProduction,
    includeStacktraceInErrorResponses: false,
    // Refuses GET and simple-content-type POSTs that lack a header only a script can add (apollo-require-preflight).
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    parseOptions: limits.parseOptions,
    validationRules: limits.validationRules,
    // main.ts owns shutdown: drain HTTP first, then Apollo, then the database.
    stopOnTerminationSignals: false,
    formatError: createErrorFormatter(log, { hideSuggestions: config.isProduction }),
    plugins: plugins.filter((plugin) => plugin !== undefined),
  });
}
