import type { ApolloServerPlugin } from '@apollo/server';
import { HeaderMap } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { RateLimitConfig } from '../config.js';
import type { RequestContext } from '../core/context.js';
import { rootFields } from './root-fields.js';

export const rateLimited = (retryAfterSeconds: number) =>
  new GraphQLError(`Too many mutations; retry in ${retryAfterSeconds} s`, {
    extensions: {
      code: 'RATE_LIMITED',
      retryAfterSeconds,
      http: { status: 429, headers: new HeaderMap([['retry-after', String(retryAfterSeconds)]]) },
    },
  });

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

/**
 * Per-user limit on mutations (each top-level mutation field costs one token), checked once the operation is
 * known and before anything runs. Buckets live in each instance's memory: behind a load balancer a user's allowance is
 * per instance.
 */
export function mutationRateLimitPlugin(config: RateLimitConfig): ApolloServerPlugin<RequestContext> | undefined {
  if (config.mutationsPerMinute === 0) return undefined;
  const buckets = new TokenBuckets(config.burst, config.mutationsPerMinute);
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, document, contextValue }) {
          if (operation?.operation !== 'mutation' || !contextValue.viewer) return;
          const result = buckets.take(contextValue.viewer.id, Math.max(1, rootFields(operation, document).length));
          if (!result.allowed) throw rateLimited(result.retryAfterSeconds);
        },
      };
    },
  };
}
