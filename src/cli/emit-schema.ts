import { writeFile } from 'node:fs/promises';
import { printSchemaSdl } from '../graphql/print-schema.js';
import { buildTallySchema } from '../graphql/schema.js';

/** Writes schema.graphql from the type-graphql classes (npm run schema:emit). */
const sdl = printSchemaSdl(await buildTallySchema());
await writeFile(new URL('../../../schema.graphql', import.meta.url), sdl);
console.log('wrote schema.graphql');
