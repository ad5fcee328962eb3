import type { MikroORM } from '@mikro-orm/postgresql';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics for one app. Each app has its own registry, so several servers in one process (tests) keep
 * separate counts.
 */
export interface Metrics {
  registry: Registry;
  graphqlDuration: Histogram<'operation_name' | 'operation_type' | 'result'>;
  ledgerOperations: Counter<'operation' | 'outcome'>;
  webhookEvents: Counter<'type' | 'outcome'>;
  /** Label values that clients choose (operation names) are capped, so a client cannot grow the registry at will. */
  boundedLabel(metric: string, value: string): string;
}

const MAX_VALUES_PER_LABEL = 100;
const LABEL_VALUE = /^[A-Za-z_][\w.:-]{0,99}$/;

export async function createMetrics(orm: MikroORM): Promise<Metrics> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const pool = await orm.em.getConnection().getNativeClient();

  new Gauge({
    name: 'tally_db_pool_connections',
    help: 'PostgreSQL connections held by this instance, by state',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      this.set({ state: 'idle' }, pool.idleCount);
      this.set({ state: 'active' }, pool.totalCount - pool.idleCount);
    },
  });
  new Gauge({
    name: 'tally_db_pool_waiting_requests',
    help: 'Queries waiting for a free connection in this instance',
    registers: [registry],
    collect() {
      this.set(pool.waitingCount);
    },
  });

  const seen = new Map<string, Set<string>>();
  return {
    registry,
    graphqlDuration: new Histogram({
      name: 'tally_graphql_request_duration_seconds',
      help: 'GraphQL requests from arrival to response, by operation',
      labelNames: ['operation_name', 'operation_type', 'result'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    ledgerOperations: new Counter({
      name: 'tally_ledger_operations_total',
      help: 'Balance-changing GraphQL mutations by ledger operation and outcome (ok or the error code)',
      labelNames: ['operation', 'outcome'] as const,
      registers: [registry],
    }),
    webhookEvents: new Counter({
      name: 'tally_webhook_events_total',
      help: 'Stripe webhook events by event type and outcome',
      labelNames: ['type', 'outcome'] as const,
      registers: [registry],
    }),
    boundedLabel(metric, value) {
      if (!LABEL_VALUE.test(value)) return 'invalid';
      const values = seen.get(metric) ?? seen.set(metric, new Set()).get(metric)!;
      if (values.has(value)) return value;
      if (values.size >= MAX_VALUES_PER_LABEL) return 'other';
      values.add(value);
      return value;
    },
  };
}
