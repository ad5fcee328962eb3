import { Migrator } from '@mikro-orm/migrations';
import { DefaultLogger, defineConfig, type LogContext, type LoggerOptions, type Options } from '@mikro-orm/postgresql';
import { SeedManager } from '@mikro-orm/seeder';
import { migrationsList } from '../../migrations/index.js';

export interface OrmOptionsInput {
  clientUrl: string;
  /** The schema's entities; the entry point assembles them from the features (src/orm.ts). */
  entities: NonNullable<Options['entities']>;
  /** Connection pool size; PostgreSQL's own limit applies across all instances. */
  poolMax?: number;
  /**
   * statement_timeout of every connection, in ms (0 or absent: none). The serving pool sets it so that no single
   * statement runs away; migrations run without it (an index on a large table may take minutes).
   */
  statementTimeoutMs?: number;
  debug?: boolean;
  /** Called with every SQL statement the ORM sends (instrumentation, e.g. counting statements in tests). */
  onQuery?: (sql: string) => void;
}

/** The default logger, also reporting each statement to `onQuery` whether or not debug output is on. */
class QueryHookLogger extends DefaultLogger {
  constructor(
    options: LoggerOptions,
    private readonly onQuery: (sql: string) => void,
  ) {
    super(options);
  }

  override logQuery(context: { query: string } & LogContext): void {
    if ((context.namespace ?? 'query') === 'query') this.onQuery(context.query);
    super.logQuery(context);
  }
}

/** The MikroORM configuration, for the entities it is given (see src/orm.ts, which every caller goes through). */
export function baseOrmOptions({ clientUrl, entities, poolMax = 20, statementTimeoutMs = 0, debug = false, onQuery }: OrmOptionsInput): Options {
  return defineConfig({
    clientUrl,
    entities,
    extensions: [Migrator, SeedManager],
    debug,
    ...(onQuery ? { loggerFactory: (options: LoggerOptions) => new QueryHookLogger(options, onQuery) } : {}),
    // Entities are listed explicitly; nothing is discovered from the file system at run time.
    discovery: { warnWhenNoEntities: true },
    forceUtcTimezone: true,
    pool: { min: 0, max: poolMax, idleTimeoutMillis: 30_000 },
    driverOptions: {
      connectionTimeoutMillis: 5_000,
      // Sent in each connection's start-up packet: the server enforces them, whatever the client does.
      ...(statementTimeoutMs > 0
        ? { statement_timeout: statementTimeoutMs, idle_in_transaction_session_timeout: Math.max(10_000, 4 * statementTimeoutMs) }
        : {}),
    },
    migrations: {
      tableName: 'mikro_orm_migrations',
      migrationsList,
      path: './migrations',
      pathTs: './migrations',
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      silent: true,
      emit: 'ts',
    },
    // The outbox's triggers and functions are written by hand in the migrations (Migration20261206000000_event_sources),
    // not declared on entities: the schema differ leaves them alone instead of proposing to drop them.
    schemaGenerator: { ignoreTriggers: true, ignoreRoutines: true },
    seeder: { path: './seeders', pathTs: './seeders', defaultSeeder: 'DatabaseSeeder', emit: 'ts' },
  });
}
