import type { GraphQLResponse } from './server.js';

/** The first error's extensions (`code`, `field` and the details of its code), or undefined when there is none. */
export const errorOf = (res: GraphQLResponse<unknown>) =>
  res.errors?.[0]?.extensions as ({ code?: string; field?: string } & Record<string, unknown>) | undefined;

/** Every error's code, in order. */
export const codesOf = (res: GraphQLResponse<unknown>) => (res.errors ?? []).map((error) => error.extensions?.code);
