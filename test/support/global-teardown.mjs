import { rm } from 'node:fs/promises';

export default async function globalTeardown() {
  await globalThis.tallyTestCluster?.stop();
  const dir = process.env.TALLY_TEST_CLUSTER_DIR;
  if (dir) await rm(dir, { recursive: true, force: true });
}
