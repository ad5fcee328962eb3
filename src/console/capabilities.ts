import { getNamedType, isInputObjectType, isLeafType, isObjectType, type GraphQLArgument, type GraphQLSchema } from 'graphql';

/**
 * What the console may ask of this server's schema, for the parts of it that other features add over time (plans and
 * subscriptions, webhook endpoints): the console shows a section only when the fields it needs exist. Production turns
 * introspection off, so the server describes these fields itself, from the schema it serves, and only these.
 */

/** Root fields the console uses when they exist. */
const OPTIONAL_ROOTS = {
  query: ['users', 'organizations', 'plans', 'webhookEndpoints', 'webhookDeliveries'],
  mutation: ['setPlan', 'redeliverWebhookEvent', 'releaseReservation', 'grantCredits', 'refundCredits'],
} as const;

/** Roots whose result and argument types are described (the others are the console's own, known to it). */
const DESCRIBED_ROOTS = new Set(['plans', 'webhookEndpoints', 'webhookDeliveries', 'setPlan', 'redeliverWebhookEvent']);

/** Types the console knows already: never described, so the description stays to what is optional. */
const KNOWN_TYPES = new Set(['User', 'Organization', 'CreditTransaction', 'Reservation', 'Workshop', 'PageInfo']);

/** Fields of accounts that the plan section shows when they exist. */
const ACCOUNT_FIELDS = ['planTier', 'subscriptionStatus', 'currentPeriodEnd', 'cancelAtPeriodEnd', 'allowance', 'plan'];

export interface FieldShape {
  name: string;
  /** The field's type as SDL prints it, e.g. `[WebhookDelivery!]!`. */
  type: string;
  /** True for scalars and enums. */
  leaf: boolean;
  args: { name: string; type: string }[];
}

export interface Capabilities {
  query: Record<string, FieldShape>;
  mutation: Record<string, FieldShape>;
  /** Object and input types the console may select from, by name: their fields (input fields have no args). */
  types: Record<string, FieldShape[]>;
}

const argShape = (arg: GraphQLArgument) => ({ name: arg.name, type: String(arg.type) });

/** The named types reachable from `start` through object fields, arguments and input fields, `depth` steps deep. */
function describeTypes(schema: GraphQLSchema, start: string[], depth: number): Capabilities['types'] {
  const types: Capabilities['types'] = {};
  let frontier = start;
  for (let step = 0; step <= depth && frontier.length > 0; step++) {
    const next: string[] = [];
    for (const name of frontier) {
      if (types[name] || KNOWN_TYPES.has(name)) continue;
      const type = schema.getType(name);
      if (!type || name.startsWith('__')) continue;
      if (isObjectType(type)) {
        types[name] = Object.values(type.getFields()).map((field) => {
          next.push(getNamedType(field.type).name, ...field.args.map((arg) => getNamedType(arg.type).name));
          return { name: field.name, type: String(field.type), leaf: isLeafType(getNamedType(field.type)), args: field.args.map(argShape) };
        });
      } else if (isInputObjectType(type)) {
        types[name] = Object.values(type.getFields()).map((field) => {
          next.push(getNamedType(field.type).name);
          return { name: field.name, type: String(field.type), leaf: isLeafType(getNamedType(field.type)), args: [] };
        });
      }
    }
    frontier = next;
  }
  return types;
}

export function consoleCapabilities(schema: GraphQLSchema): Capabilities {
  const roots = { query: schema.getQueryType(), mutation: schema.getMutationType() };
  const pick = (kind: 'query' | 'mutation') => {
    const fields = roots[kind]?.getFields() ?? {};
    const shapes: Record<string, FieldShape> = {};
    for (const name of OPTIONAL_ROOTS[kind]) {
      const field = fields[name];
      if (field) shapes[name] = { name, type: String(field.type), leaf: isLeafType(getNamedType(field.type)), args: field.args.map(argShape) };
    }
    return shapes;
  };
  const query = pick('query');
  const mutation = pick('mutation');
  const described = [...Object.values(query), ...Object.values(mutation)].filter((field) => DESCRIBED_ROOTS.has(field.name));
  const start = described.flatMap((field) => [
    field.type.replace(/[[\]!]/g, ''),
    ...field.args.map((arg) => arg.type.replace(/[[\]!]/g, '')),
  ]);
  const types = describeTypes(schema, start, 3);
  // Accounts: only the plan and subscription fields, and what those are made of.
  for (const account of ['User', 'Organization']) {
    const type = schema.getType(account);
    if (!isObjectType(type)) continue;
    const fields = type.getFields();
    types[account] = ACCOUNT_FIELDS.flatMap((name) => {
      const field = fields[name];
      if (!field) return [];
      return [{ name, type: String(field.type), leaf: isLeafType(getNamedType(field.type)), args: field.args.map(argShape) }];
    });
    for (const field of types[account]!) {
      const named = getNamedType(fields[field.name]!.type).name;
      if (!field.leaf && !types[named]) Object.assign(types, describeTypes(schema, [named], 0));
    }
  }
  return { query, mutation, types };
}
