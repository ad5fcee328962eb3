import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { GraphQLError, getOperationAST, parse, specifiedRules, validate, type DocumentNode, type GraphQLSchema } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { RequestContext, Viewer } from '../core/context.js';
import type { VerifiedIdentity } from '../identity/identity.js';
import { ErrorCode, type DomainError } from '../core/errors.js';
import { toGraphQLError } from './errors.js';
import { perRequest } from '../core/context.js';
import { ledgerOf } from '../credits/ledger-of.js';
import { provisionUser } from '../identity/provisioning.js';
import { estimateCost, MAX_COST } from './cost.js';
import { createErrorFormatter } from './format-error.js';
import { operationLimits } from './limits.js';
import type { RateLimiter } from './rate-limit.js';
import type { Services } from './services.js';

export interface LiveServer {
  /** Closes every socket (with the protocol's "going away") and stops accepting new ones. */
  close(): Promise<void>;
}

interface Extra extends Record<PropertyKey, unknown> {
  viewer?: Viewer;
  /** Set once the socket has closed: an onConnect still verifying its token then takes no slot. */
  closed?: boolean;
  /** Closes the socket when its token expires. */
  expiry?: NodeJS.Timeout;
}

/** WebSocket's "try again later" (RFC 6455 registry): the server could not take the connection now. */
const TRY_AGAIN_LATER = 1013;

/** The longest a timer can wait (about 24.8 days); a token that outlives it is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const tokenOf = (params: Readonly<Record<string, unknown>> | undefined): string | undefined => {
  const raw = params?.authorization ?? params?.Authorization ?? params?.token;
  if (typeof raw !== 'string') return undefined;
  const match = /^(?:Bearer\s+)?(\S+)\s*$/i.exec(raw);
  return match?.[1];
};

export interface LiveServerLimits {
  rateLimiter: RateLimiter;
  /** The client address of a socket's upgrade request, as HTTP requests see it (trust proxy). */
  clientAddress(request: IncomingMessage): string;
}

/**
 * GraphQL subscriptions over WebSocket on /graphql (the graphql-ws protocol, `graphql-transport-ws`). The token goes
 * in `connection_init` (`{ "authorization": "Bearer <token>" }`); a missing or bad one closes the socket with 4403
 * Forbidden, as the protocol says. Only subscriptions are served here (queries and mutations go over HTTP, with their
 * rate limits), under the same depth, alias and cost limits. Each user may hold LIVE_MAX_CONNECTIONS_PER_USER sockets
 * per instance (one more is closed with 4429), each socket LIVE_MAX_SUBSCRIPTIONS_PER_CONNECTION subscriptions at once
 * (one more gets an error and the socket stays open), and every subscribe takes one from the user's query allowance
 * (RATE_LIMIT_QUERIES_PER_MINUTE), as a query over HTTP does. A socket lives as long as the token it was opened with:
 * when that expires the socket is closed with 4403, and the client reconnects with a fresh one.
 */
export function attachLiveServer(httpServer: Server, services: Services, schema: GraphQLSchema, guards?: LiveServerLimits): LiveServer {
  const { config, log, orm } = services;
  const limits = operationLimits({ hideFieldSuggestions: config.isProduction });
  const formatError = createErrorFormatter(log, { hideSuggestions: config.isProduction });
  const rules = [...specifiedRules, ...limits.validationRules];
  const sockets = new WebSocketServer({ server: httpServer, path: '/graphql', maxPayload: 64 * 1024 });
  const perUser = new Map<string, number>();
  const closeAtExpiry = (extra: Extra & { readonly socket: { close(code: number, reason: string): void } }, expiresAt: number) => {
    const wait = expiresAt * 1000 - Date.now();
    extra.expiry = setTimeout(
      () => {
        if (extra.closed) return;
        if (wait > MAX_TIMER_MS) closeAtExpiry(extra, expiresAt);
        else extra.socket.close(CloseCode.Forbidden, 'Token expired');
      },
      Math.max(0, Math.min(wait, MAX_TIMER_MS)),
    );
    extra.expiry.unref();
  };

  const server = useServer<Record<string, unknown>, Extra>(
    {
      schema,
      connectionInitWaitTimeout: 10_000,
      onConnect: async (ctx) => {
        // A socket that fails to sign in counts against its address, as an HTTP request without a valid token does;
        // over the limit, it is closed with 4429 rather than 4403.
        const refuse = () => {
          try {
            guards?.rateLimiter.takeForAddress(guards.clientAddress(ctx.extra.request));
          } catch {
            ctx.extra.socket.close(CloseCode.TooManyInitialisationRequests, 'Too many requests without a valid token from this address');
          }
          return false;
        };
        const token = tokenOf(ctx.connectionParams);
        if (!token) return refuse();
        let identity: VerifiedIdentity;
        try {
          identity = await services.verifyToken(token);
        } catch (error) {
          log.debug({ err: error }, 'live connection refused');
          return refuse();
        }
        try {
          const context: RequestContext = { em: orm.em.fork(), requestId: randomUUID(), log, services, perRequest: new Map() };
          const user = await provisionUser(context.em, perRequest(context, ledgerOf), identity, config);
          // The socket may have closed while the token was checked (a dropped connection, a second connection_init):
          // onClose has then run already, and a slot taken now would never be given back.
          if (ctx.extra.closed || ctx.extra.socket.readyState !== ctx.extra.socket.OPEN) return false;
          const open = perUser.get(user.id) ?? 0;
          if (open >= config.webhooks.liveConnectionsPerUser) {
            ctx.extra.socket.close(CloseCode.TooManyInitialisationRequests, 'Too many live connections for this user');
            return false;
          }
          perUser.set(user.id, open + 1);
          ctx.extra.viewer = { id: user.id, clerkUserId: user.clerkUserId, roles: user.roles };
          if (identity.expiresAt !== undefined) closeAtExpiry(ctx.extra, identity.expiresAt);
          return true;
        } catch (error) {
          // Our failure, not the client's (the database, say): nothing counts against the address, and the close
          // code (1013, try again later) tells the client to reconnect.
          log.warn({ err: error }, 'live connection could not be set up');
          ctx.extra.socket.close(TRY_AGAIN_LATER, 'Try again later');
          return false;
        }
      },
      onClose: (ctx) => {
        ctx.extra.closed = true;
        clearTimeout(ctx.extra.expiry);
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
        // graphql-ws lists this subscription in ctx.subscriptions before asking, so the count includes it.
        if (Object.keys(ctx.subscriptions).length > config.webhooks.liveSubscriptionsPerConnection) {
          return [new GraphQLError(`At most ${config.webhooks.liveSubscriptionsPerConnection} subscriptions per connection; complete one first`, { extensions: { code: ErrorCode.RATE_LIMITED } })];
        }
        try {
          if (ctx.extra.viewer) guards?.rateLimiter.takeForUser(ctx.extra.viewer.id, 'query', 1);
        } catch (error) {
          return [toGraphQLError(error as DomainError)];
        }
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
