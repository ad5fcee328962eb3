// Builds the support console (npm run build): one ES module bundle and its stylesheet, beside the page, in
// dist/console. esbuild only strips types and bundles here; console/tsconfig.json type-checks (npm run typecheck).
import { cp, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';

const here = import.meta.dirname;
const out = path.join(here, '..', 'dist', 'console');
await rm(out, { recursive: true, force: true });
await mkdir(path.join(out, 'assets'), { recursive: true });
await build({
  entryPoints: [path.join(here, 'src', 'main.ts')],
  outfile: path.join(out, 'assets', 'console.js'),
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});
await cp(path.join(here, 'index.html'), path.join(out, 'index.html'));
await cp(path.join(here, 'console.css'), path.join(out, 'assets', 'console.css'));
