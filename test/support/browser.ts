import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

/**
 * A real browser for the console's tests: Debian's Chromium (`apt-get install -y chromium`), driven headless by
 * playwright-core. Without it the tests fail, saying so: they never skip.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `The console's browser tests need Chromium at ${CHROMIUM_PATH}, and it is not there. Install it with ` +
        '`apt-get install -y chromium` (Debian; .ci/run does this), or point CHROMIUM_PATH at a Chromium or Chrome binary.',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    // Root in a container has no sandbox to offer; the rest keeps Chromium off the network (the machine has none).
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

/** What a page said that a test should not ignore: script errors and refusals by the Content-Security-Policy. */
export function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`policy: ${text}`);
    else if (message.type() === 'error') problems.push(`console error: ${text}`);
  });
  return problems;
}

let axeSource: string | undefined;

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/**
 * axe-core's violations on the page as it is now (WCAG 2.x A and AA and best practices), each as one line. The
 * engine is evaluated through the DevTools protocol, which the page's policy does not govern (an injected <script>
 * would be refused, as it should be).
 */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  axeSource ??= await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  const loaded = await page.evaluate('typeof window.axe');
  if (loaded === 'undefined') await page.evaluate(axeSource);
  const tags = JSON.stringify(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']);
  const violations = (await page.evaluate(`window.axe.run(document, { runOnly: { type: 'tag', values: ${tags} } }).then((result) => result.violations)`)) as AxeViolation[];
  return violations.map((violation) => `${violation.id} (${violation.impact}): ${violation.help} at ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`);
}

/** Waits until nothing on the page says it is loading. */
export async function settled(page: Page): Promise<void> {
  await page.waitForLoadState('networkidle');
  // Polled from here: a predicate run inside the page would need eval, which the console's policy refuses.
  const busy = `document.querySelectorAll('[aria-busy="true"]').length + document.querySelectorAll('main .loading').length`;
  for (let waited = 0; (await page.evaluate(busy)) !== 0; waited += 50) {
    if (waited > 30_000) throw new Error('the console page kept loading for 30 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
