import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import {
  ApolloServerPluginCacheControlDisabled,
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
  ApolloServerPluginUsageReportingDisabled,
} from '@apollo/server/plugin/disabled';
import { ApolloServerPluginLandingPageLocalDefault } from '@apollo/server/plugin/landingPage/default';
import type { GraphQLSchema } from 'graphql';
import type { RequestContext } from '../core/context.js';
import type { Metrics } from '../ops/metrics.js';
import { operationCostPlugin } from './cost.js';
import { inputHygienePlugin } from './input-hygiene.js';
import { createErrorFormatter } from './format-error.js';
import { graphqlMetricsPlugin } from './graphql-metrics.js';
import { operationLimits } from './limits.js';
import type { RateLimiter } from './rate-limit.js';
import type { Services } from './services.js';

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
    formatError: createErrorFormatter(log),
    plugins: plugins.filter((plugin) => plugin !== undefined),
  });
}
