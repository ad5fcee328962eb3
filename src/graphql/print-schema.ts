import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';

/** The committed SDL: sorted so that moving code around never changes it, with a header saying where it comes from. */
export function printSchemaSdl(schema: GraphQLSchema): string {
  return `# Generated from the type-graphql classes by \`npm run schema:emit\`. Do not edit.\n\n${printSchema(lexicographicSortSchema(schema))}\n`;
}
