/**
 * Tally's layers, checked on every `npm test` (npm run lint:deps, and test/internals/layers.test.ts):
 *
 *   entry       src/main.ts, src/app.ts, src/orm.ts, src/seed.ts, src/cli/
 *   API edge    src/graphql/ (schema, context, auth, error mapping, limits), src/ops/ (HTTP routes, probes, metrics),
 *               src/console/ (the support console's page: files, policy, what the schema offers it)
 *   features    src/accounts/ < src/events/ < src/users/ < src/organizations/ < src/workshops/ < src/credits/ < src/identity/ < src/billing/
 *   core        src/core/ (errors, cursors, validation, ids, the request context's shape)
 *   database    src/database/ (ORM options, embedded PostgreSQL, statements)
 *   base        src/config.ts, src/logger.ts, src/request-scope.ts
 *
 * An import only ever points down, features import each other only down the order above, and no module is on a
 * cycle. Only the posting core (src/credits/posting/) may import the ledger's statements.
 */
const FEATURES = ['accounts', 'events', 'users', 'organizations', 'workshops', 'credits', 'identity', 'billing'];
const feature = (name) => `^src/${name}/`;
const BASE = '^src/(config|logger|request-scope)\\.ts$';
const ENTRY = '^src/(main|app|orm|seed)\\.ts$|^src/cli/';
const EDGE = '^src/(graphql|ops|console)/';
const ALL_FEATURES = `^src/(${FEATURES.join('|')})/`;

/** A feature may import the ones before it in FEATURES, never one after it. */
const featureOrder = FEATURES.flatMap((name, index) =>
  FEATURES.slice(index + 1).length === 0
    ? []
    : [
        {
          name: `feature-order-${name}`,
          comment: `${name}/ may import only features listed before it (${FEATURES.slice(0, index).join(', ') || 'none'})`,
          severity: 'error',
          from: { path: feature(name) },
          to: { path: `^src/(${FEATURES.slice(index + 1).join('|')})/` },
        },
      ],
);

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'No module is on an import cycle.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'entry-is-top',
      comment: 'Only the entry point imports the entry point.',
      severity: 'error',
      from: { path: '^src/', pathNot: ENTRY },
      to: { path: ENTRY },
    },
    {
      name: 'edge-above-features',
      comment: 'Features, core, database and base never import the API edge (GraphQL, HTTP).',
      severity: 'error',
      from: { path: '^src/', pathNot: `${ENTRY}|${EDGE}` },
      to: { path: EDGE },
    },
    {
      name: 'ops-below-graphql',
      comment: 'HTTP routes and probes do not import the GraphQL edge.',
      severity: 'error',
      from: { path: '^src/ops/' },
      to: { path: '^src/graphql/' },
    },
    {
      name: 'console-is-a-page',
      comment: 'The console route serves files and reads the schema it is given; it imports nothing of the app but the base.',
      severity: 'error',
      from: { path: '^src/console/' },
      to: { path: '^src/', pathNot: `^src/console/|${BASE}` },
    },
    {
      name: 'features-above-core',
      comment: 'core, database and base know no feature.',
      severity: 'error',
      from: { path: `^src/(core|database)/|${BASE}` },
      to: { path: ALL_FEATURES },
    },
    {
      name: 'core-and-database-apart',
      comment: 'The database layer does not import core.',
      severity: 'error',
      from: { path: '^src/database/' },
      to: { path: '^src/core/' },
    },
    {
      name: 'base-is-bottom',
      comment: 'config, logging and the request scope import nothing of the app above them.',
      severity: 'error',
      from: { path: BASE },
      to: { path: '^src/', pathNot: BASE },
    },
    {
      name: 'only-the-posting-core-runs-ledger-statements',
      comment: 'The statements that change balances and write ledger rows are run by src/credits/posting/ alone.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/credits/posting/' },
      to: { path: '^src/credits/posting/statements\\.ts$' },
    },
    ...featureOrder,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
