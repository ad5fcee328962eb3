import { existsSync } from 'node:fs';
import path from 'node:path';
import express, { type Router } from 'express';
import type { Capabilities } from './capabilities.js';

/**
 * The support console's page: a single-page app whose files `npm run build` writes to dist/console, served from here
 * with nothing from elsewhere. The policy allows this origin's own script, styles and requests and nothing else: no
 * inline script or style, no frames, no forms posted away.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
};

/** The built console: dist/console under the project's root (the nearest folder up with a package.json). */
export function consoleAssetsDir(from: string): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return path.join(dir, 'dist', 'console');
}

/**
 * /console: the app's page for any path under it (the app routes in the browser), its assets under /console/assets,
 * and /console/capabilities.json (which optional parts of the API this server has). Every answer carries the policy.
 */
export function consoleRoutes(options: { assetsDir: string; capabilities: Capabilities }): Router {
  const { assetsDir, capabilities } = options;
  const router = express.Router({ strict: false });
  router.use((_req, res, next) => {
    res.set(SECURITY_HEADERS);
    next();
  });
  router.get('/capabilities.json', (_req, res) => {
    res.set('cache-control', 'no-store').json(capabilities);
  });
  router.use('/assets', express.static(path.join(assetsDir, 'assets'), { fallthrough: false, index: false, maxAge: '5m' }));
  router.get(/.*/, (req, res) => {
    const page = path.join(assetsDir, 'index.html');
    if (!existsSync(page)) {
      res.status(503).type('text/plain').send('The console is not built: run npm run build');
      return;
    }
    // The app's links are absolute (/console/...), so /console without the slash is served as it is.
    res.set('cache-control', 'no-store').sendFile(page);
  });
  return router;
}
