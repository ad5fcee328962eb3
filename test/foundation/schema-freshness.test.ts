import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { generate, loadContext } from '@graphql-codegen/cli';
import { buildTallySchema } from '../../src/graphql/schema.js';
import { printSchemaSdl } from '../../src/graphql/print-schema.js';

/** The committed artefacts are what the code produces today, so clients and these tests never read a stale contract. */
describe('schema freshness', () => {
  const root = process.cwd();

  it('schema.graphql matches the type-graphql classes', async () => {
    const built = printSchemaSdl(await buildTallySchema());
    const committed = await readFile(path.join(root, 'schema.graphql'), 'utf8');
    if (built !== committed) {
      throw new Error('schema.graphql is stale: run npm run schema:emit (and then npm run codegen)');
    }
    expect(committed).toContain('type Query');
  });

  it('test/generated/graphql.ts matches GraphQL Code Generator output for codegen.yml', async () => {
    const context = await loadContext(path.join(root, 'codegen.yml'));
    const outputs = await generate(context, false);
    const target = path.join(root, 'test/generated/graphql.ts');
    const output = (outputs as { filename: string; content: string }[]).find((o) => path.resolve(root, o.filename) === target);
    expect(output).toBeDefined();
    const committed = await readFile(target, 'utf8');
    if (output!.content !== committed) {
      throw new Error('test/generated/graphql.ts is stale: run npm run codegen');
    }
    expect(committed).toContain('ConsumeCreditsDocument');
  });
});
