import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { GraphQLError, getOperationAST, parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { RequestContext, Viewer } from '../core/context.js';
import { perRequest } from '../core/context.js';
import { ledgerOf } from '../credits/ledger-of.js';
import { provisionUser } from '../identity/provisioning.js';
import { estimateCost, MAX_COST } from './cost.js';
import { createErrorFormatter } from './format-error.js';
import { operationLimits } from './limits.js';
import type { Services } from './services.js';

export interface LiveServer {
  /** Closes every socket (with the protocol's "going away") and stops accepting new ones. */
  close(): Promise<void>;
}

interface Extra extends Record<PropertyKey, unknown> {
  viewer?: Viewer;
}

const tokenOf = (params: Readonly<Record<string, unknown>> | undefined): string | undefined => {
  const raw = params?.authorization ?? params?.Authorization ?? params?.token;
  if (typeof raw !== 'string') return undefined;
  const match = /^(?:Bearer\s+)?(\S+)\s*$/i.exec(raw);
  return match?.[1];
};

/**
 * GraphQL subscriptions over WebSocket on /graphql (the graphql-ws protocol, `graphql-transport-ws`). The token goes
 * in `connection_init` (`{ "authorization": "Bearer <token>" }`); a missing or bad one closes the socket with 4403
 * Forbidden, as the protocol says. Only subscriptions are served here (queries and mutations go over HTTP, with their
 * rate limits), under the same depth, alias and cost limits; each user may hold LIVE_MAX_CONNECTIONS_PER_USER sockets
 * per instance, and one more is closed with 4429.
 */
export function attachLiveServer(httpServer: Server, services: Services, schema: GraphQLSchema): LiveServer {
  const { config, log, orm } = services;
  const limits = operationLimits({ hideFieldSuggestions: config.isProduction });
  const formatError = createErrorFormatter(log);
  const rules = [...specifiedRules, ...limits.validationRules];
  const sockets = new WebSocketServer({ server: httpServer, path: '/graphql', maxPayload: 64 * 1024 });
  const perUser = new Map<string, number>();

  const server = useServer<Record<string, unknown>, Extra>(
    {
      schema,
      connectionInitWaitTimeout: 10_000,
      onConnect: async (ctx) => {
        const token = tokenOf(ctx.connectionParams);
        if (!token) return false;
        try {
          const identity = await services.verifyToken(token);
          const context: RequestContext = { em: orm.em.fork(), requestId: randomUUID(), log, services, perRequest: new Map() };
          const user = await provisionUser(context.em, perRequest(context, ledgerOf), identity, config);
          const open = perUser.get(user.id) ?? 0;
          if (open >= config.webhooks.liveConnectionsPerUser) {
            ctx.extra.socket.close(CloseCode.TooManyInitialisationRequests, 'Too many live connections for this user');
            return false;
          }
          perUser.set(user.id, open + 1);
          ctx.extra.viewer = { id: user.id, clerkUserId: user.clerkUserId, roles: user.roles };
          return true;
        } catch (error) {
          log.debug({ err: error }, 'live connection refused');
          return false;
        }
      },
      onClose: (ctx) => {
        const viewer = ctx.extra.viewer;
        if (!viewer) return;
        const open = (perUser.get(viewer.id) ?? 1) - 1;
        if (open <= 0) perUser.delete(viewer.id);
        else perUser.set(viewer.id, open);
      },
      // Errors as clients see them over HTTP (format-error.ts): codes and details, never internals.
      onError: (_ctx, _id, _payload, errors) => errors.map((error) => formatError(error.toJSON(), error)),
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: result.errors.map((error) => formatError(error.toJSON(), error)) } : undefined,
      // Parsed, validated and costed here as Apollo does over HTTP: subscriptions only, within the same limits.
      onSubscribe: (ctx, _id, payload) => {
        let document: DocumentNode;
        try {
          document = parse(payload.query, limits.parseOptions);
        } catch (error) {
          return [error instanceof GraphQLError ? error : new GraphQLError('The operation could not be parsed')];
        }
        const errors = validate(schema, document, rules);
        if (errors.length > 0) return errors;
        const operation = getOperationAST(document, payload.operationName);
        if (operation?.operation !== 'subscription') {
          return [new GraphQLError('Only subscriptions are served over WebSocket; send queries and mutations to POST /graphql')];
        }
        const variables = (payload.variables ?? undefined) as Record<string, unknown> | undefined;
        const cost = estimateCost(schema, document, variables, payload.operationName);
        if (cost > MAX_COST) return [new GraphQLError(`Operation cost ${cost} exceeds the limit of ${MAX_COST}`)];
        const contextValue: RequestContext = { em: orm.em.fork(), viewer: ctx.extra.viewer, requestId: randomUUID(), log, services, perRequest: new Map() };
        return { schema, document, operationName: payload.operationName, variableValues: variables, contextValue };
      },
    },
    sockets,
  );
  return {
    async close() {
      await server.dispose();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
    },
  };
}
