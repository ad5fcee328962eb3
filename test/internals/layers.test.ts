import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from '@jest/globals';

/**
 * Internal by design: the layer rules (.dependency-cruiser.cjs) hold for src/, and they do catch an upward import,
 * a cycle and a stray use of the ledger's statements (proved on a small tree of files written for the purpose).
 */
const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
const CONFIG = path.join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = path.join(ROOT, 'node_modules/.bin/depcruise');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

async function violations(cwd: string): Promise<Violation[]> {
  const { stdout } = await run(DEPCRUISE, ['src', '--config', CONFIG, '--output-type', 'json'], { cwd, maxBuffer: 64 * 1024 * 1024 }).catch(
    (error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }),
  );
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

describe('the layers (internal)', () => {
  it('hold for the whole of src/: no upward import, no cycle', async () => {
    expect(await violations(ROOT)).toEqual([]);
  });

  it('fail on an upward import, a cycle, a feature imported out of order and a stray ledger statement', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'tally-layers-'));
    const file = async (name: string, text: string) => {
      await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
      await writeFile(path.join(dir, name), text);
    };
    try {
      await file('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext' } }));
      await file('src/graphql/errors.ts', 'export const edge = 1;\n');
      await file('src/credits/upward.ts', "import { edge } from '../graphql/errors.js';\nexport const up = edge;\n");
      await file('src/users/early.ts', "import { later } from '../billing/later.js';\nexport const early = later;\n");
      await file('src/billing/later.ts', 'export const later = 1;\n');
      await file('src/core/a.ts', "import { b } from './b.js';\nexport const a = () => b;\n");
      await file('src/core/b.ts', "import { a } from './a.js';\nexport const b = () => a;\n");
      await file('src/credits/posting/statements.ts', 'export const POST = 1;\n');
      await file('src/billing/stray.ts', "import { POST } from '../credits/posting/statements.js';\nexport const stray = POST;\n");
      const found = (await violations(dir)).map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`);
      expect(found).toEqual(
        expect.arrayContaining([
          'edge-above-features: src/credits/upward.ts -> src/graphql/errors.ts',
          'feature-order-users: src/users/early.ts -> src/billing/later.ts',
          expect.stringMatching(/^no-circular: src\/core\/[ab]\.ts -> src\/core\/[ab]\.ts$/),
          'only-the-posting-core-runs-ledger-statements: src/billing/stray.ts -> src/credits/posting/statements.ts',
        ]),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
