import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadSettings, SettingsError } from '../../bench/settings.js';

/** BENCH_BASELINE names another build to run beside this one: found as given, or refused with one clear line. */
describe('bench settings: BENCH_BASELINE', () => {
  let dir: string;
  let main: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tally-baseline-'));
    main = path.join(dir, 'dist', 'src', 'main.js');
    await mkdir(path.dirname(main), { recursive: true });
    await writeFile(main, '');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('is off unless set', () => {
    expect(loadSettings({}).baselineMain).toBeUndefined();
    expect(loadSettings({ BENCH_BASELINE: '  ' }).baselineMain).toBeUndefined();
  });

  it("finds the build's entry point from the folder holding dist/, or takes main.js as given", () => {
    expect(loadSettings({ BENCH_BASELINE: dir }).baselineMain).toBe(main);
    expect(loadSettings({ BENCH_BASELINE: path.join(dir, 'dist') }).baselineMain).toBe(main);
    expect(loadSettings({ BENCH_BASELINE: main }).baselineMain).toBe(main);
  });

  it('refuses a folder with no build, naming the variable and what it expected', () => {
    const missing = path.join(dir, 'nothing-here');
    expect(() => loadSettings({ BENCH_BASELINE: missing })).toThrow(SettingsError);
    expect(() => loadSettings({ BENCH_BASELINE: missing })).toThrow(/^BENCH_BASELINE: no build at ".*nothing-here" \(expected a main\.js, or a folder with dist\/src\/main\.js\)$/);
    expect(() => loadSettings({ BENCH_BASELINE: path.join(dir, 'gone.js') })).toThrow(SettingsError);
  });
});
