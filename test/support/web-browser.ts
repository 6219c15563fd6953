/**
 * Browser tests of the web app: Debian's chromium driven by playwright-core (never a browser
 * download), against a real node on 127.0.0.1 serving the built app (dist/web). Without chromium
 * the tests skip — unless MEDLEDGER_REQUIRE_ALL=1 (CI), where a missing browser is a failure.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { WEB_ROOT } from '../../src/server/web-app.js';

export const CHROMIUM = process.env['MEDLEDGER_CHROMIUM'] ?? '/usr/bin/chromium';
export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/**
 * The README's screenshots (docs/screenshots) are refreshed with MEDLEDGER_SCREENSHOTS=1; other runs
 * still take them, into a temporary directory, so a test run does not rewrite tracked images.
 */
export const SCREENSHOTS =
  process.env['MEDLEDGER_SCREENSHOTS'] === '1' ? join(ROOT, 'docs', 'screenshots') : join(tmpdir(), 'medledger-screenshots');

/** A reason to skip, or false; under MEDLEDGER_REQUIRE_ALL=1 never skips (launch then fails loudly). */
export function skipUnlessBrowser(): string | false {
  if (process.env['MEDLEDGER_REQUIRE_ALL'] === '1') return false;
  if (!existsSync(CHROMIUM)) return `no chromium at ${CHROMIUM} (apt-get install chromium)`;
  return false;
}

export async function launch(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `chromium is required (MEDLEDGER_REQUIRE_ALL=1) but ${CHROMIUM} does not exist`);
  assert.ok(
    existsSync(join(WEB_ROOT, 'index.html')),
    `the web app is not built (${WEB_ROOT}); npm test builds it (npx vite build web)`,
  );
  // --no-sandbox: CI containers run as root, where chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

/** The node's own login and consent pages (server-rendered), as a person fills them in. */
export async function signInOnNode(page: Page, username: string, password: string): Promise<void> {
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/oauth\/interaction\//);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Allow' }).click();
}

/** Visible form controls and buttons a screen reader could not name (no label, aria-label or text). */
export async function unlabeledControls(page: Page): Promise<string[]> {
  return (await page.evaluate(`[...document.querySelectorAll('input, select, textarea, button')]
    .filter((el) => {
      if (el.type === 'hidden' || el.offsetParent === null) return false;
      if (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')) return false;
      if (el.tagName === 'BUTTON') return el.textContent.trim() === '';
      if (el.closest('label')) return false;
      return !(el.id && document.querySelector('label[for="' + CSS.escape(el.id) + '"]'));
    })
    .map((el) => el.outerHTML.slice(0, 120))`)) as string[];
}
