import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from './config.js';

/**
 * Development only: with no auth configured, an HS256 secret is generated once and kept in DATA_DIR, so tokens
 * printed at start-up keep working across restarts. Production refuses to start without auth configuration.
 */
export async function ensureDevelopmentSecret(config: Config): Promise<Config> {
  if (config.isProduction || config.auth.jwtSecret || config.auth.jwksUrl) return config;
  await fs.mkdir(config.dataDir, { recursive: true });
  const file = path.join(config.dataDir, 'dev-auth-secret');
  let secret: string;
  try {
    secret = (await fs.readFile(file, 'utf8')).trim();
  } catch {
    secret = randomBytes(32).toString('base64url');
    await fs.writeFile(file, `${secret}\n`, { mode: 0o600 });
  }
  return { ...config, auth: { ...config.auth, jwtSecret: secret, generatedSecret: true } };
}
