import type { ApolloServerPlugin } from '@apollo/server';
import type { RequestHandler } from 'express';
import type { RateLimitConfig } from '../config.js';
import type { RequestContext } from '../core/context.js';
import { DomainError, ErrorCode } from '../core/errors.js';
import { toGraphQLError } from './errors.js';
import { rootFields } from './root-fields.js';

export const rateLimited = (what: string, retryAfterSeconds: number) =>
  new DomainError(ErrorCode.RATE_LIMITED, `Too many ${what}; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });

interface Bucket {
  tokens: number;
  refilledAt: number;
}

const SWEEP_INTERVAL_MS = 60_000;

/** Token buckets in this process's memory, one per key: `capacity` at once, then `perMinute` spread over a minute. */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly refillPerMs: number;
  private sweptAt: number;

  constructor(
    private readonly capacity: number,
    perMinute: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.refillPerMs = perMinute / 60_000;
    this.sweptAt = now();
  }

  /** Takes `cost` tokens; when there are not enough, takes none and says how long until there will be. */
  take(key: string, cost: number): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
    const now = this.now();
    this.sweep(now);
    // A request bigger than the bucket could never pass; it costs a full bucket instead.
    const needed = Math.min(cost, this.capacity);
    const bucket = this.refilled(this.buckets.get(key), now);
    if (bucket.tokens < needed) {
      this.buckets.set(key, bucket);
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((needed - bucket.tokens) / this.refillPerMs / 1000)) };
    }
    this.buckets.set(key, { tokens: bucket.tokens - needed, refilledAt: now });
    return { allowed: true };
  }

  private refilled(bucket: Bucket | undefined, now: number): Bucket {
    if (!bucket) return { tokens: this.capacity, refilledAt: now };
    return { tokens: Math.min(this.capacity, bucket.tokens + (now - bucket.refilledAt) * this.refillPerMs), refilledAt: now };
  }

  /** A full bucket is the same as none, so idle users cost no memory. */
  private sweep(now: number) {
    if (now - this.sweptAt < SWEEP_INTERVAL_MS) return;
    this.sweptAt = now;
    for (const [key, bucket] of this.buckets) {
      if (this.refilled(bucket, now).tokens >= this.capacity) this.buckets.delete(key);
    }
  }
}

type Take = ReturnType<TokenBuckets['take']>;

/**
 * The per-instance request limits: a user's mutations (each top-level mutation field costs one) and queries (each
 * request costs one), and, for requests without a valid token, the client address's. Buckets live in each
 * instance's memory: behind a load balancer a caller's allowance is per instance. A limit of 0 is off.
 */
export class RateLimiter {
  private readonly mutations?: TokenBuckets;
  private readonly queries?: TokenBuckets;
  private readonly anonymous?: TokenBuckets;

  constructor(config: RateLimitConfig) {
    if (config.mutationsPerMinute > 0) this.mutations = new TokenBuckets(config.burst, config.mutationsPerMinute);
    if (config.queriesPerMinute > 0) this.queries = new TokenBuckets(config.queryBurst, config.queriesPerMinute);
    if (config.anonymousPerMinute > 0) this.anonymous = new TokenBuckets(config.anonymousBurst, config.anonymousPerMinute);
  }

  /** Throws RATE_LIMITED when the user is over their limit for this kind of operation. */
  takeForUser(userId: string, kind: 'mutation' | 'query', cost: number) {
    const taken: Take | undefined = (kind === 'mutation' ? this.mutations : this.queries)?.take(userId, cost);
    if (taken && !taken.allowed) throw rateLimited(kind === 'mutation' ? 'mutations' : 'requests', taken.retryAfterSeconds);
  }

  /** Throws RATE_LIMITED when the client address is over the limit for requests without a valid token. */
  takeForAddress(address: string) {
    const taken = this.anonymous?.take(address, 1);
    if (taken && !taken.allowed) throw rateLimited('requests without a valid token from this address', taken.retryAfterSeconds);
  }

  /** Requests without a token, counted by client address before anything else runs (`trust proxy` decides the address). */
  anonymousMiddleware(): RequestHandler {
    return (req, res, next) => {
      if (req.get('authorization') !== undefined) return next();
      try {
        this.takeForAddress(req.ip ?? 'unknown');
        next();
      } catch (error) {
        const { message, extensions } = toGraphQLError(error as DomainError);
        const retryAfter = (error as DomainError).details.retryAfterSeconds;
        res.status(429).setHeader('retry-after', String(retryAfter)).json({ errors: [{ message, extensions: { code: extensions.code, retryAfterSeconds: retryAfter } }] });
      }
    };
  }

  /** A signed-in user's operations, once the operation is known and before anything runs. */
  plugin(): ApolloServerPlugin<RequestContext> {
    return {
      requestDidStart: async () => ({
        didResolveOperation: async ({ operation, document, contextValue }) => {
          const viewer = contextValue.viewer;
          if (!viewer || !operation) return;
          try {
            if (operation.operation === 'mutation') this.takeForUser(viewer.id, 'mutation', Math.max(1, rootFields(operation, document).length));
            else this.takeForUser(viewer.id, 'query', 1);
          } catch (error) {
            throw toGraphQLError(error as DomainError);
          }
        },
      }),
    };
  }
}
