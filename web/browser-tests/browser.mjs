// What every browser test shares: one headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) on a fresh profile, a `page` that records JavaScript errors, console errors
// and dialogs, numbered screenshots, and `open(path, status)`.
//
// Environment: OCELOT_URL (the server under test, required), OCELOT_SCREENSHOTS (default
// <repo>/target/browser-screenshots). scripts/browser-test sets both.

import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const BASE = (process.env.OCELOT_URL || '').replace(/\/$/, '');
const SHOTS = process.env.OCELOT_SCREENSHOTS || join(here, '..', '..', 'target', 'browser-screenshots');
// Without the background-networking flags Chromium keeps dialing out of this closed network.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** The page under test (a live binding: set once the browser has started). */
export let page;
let context;
let profileDir;
let problems = [];
/** A 4xx status the current step asked for: Chromium logs it as a console error. */
let expectedStatus = null;
let shotNumber = 0;
let shotPrefix = '';

/** Starts the browser before the file's tests and closes it after; screenshots are named
 * `<prefix><NN>-<name>.png`. */
export function useBrowser(prefix = '') {
  shotPrefix = prefix;
  before(async () => {
    assert.ok(BASE.startsWith('http://'), 'set OCELOT_URL to the server under test');
    mkdirSync(SHOTS, { recursive: true });
    profileDir = mkdtempSync(join(tmpdir(), 'ocelot-chromium-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1360, height: 900 },
    });
    page = context.pages()[0] || (await context.newPage());
    page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() !== 'error') return;
      const text = msg.text();
      if (expectedStatus && text.includes(`status of ${expectedStatus}`)) return;
      problems.push(`console error: ${text}`);
    });
    page.on('dialog', async (dialog) => {
      problems.push(`dialog opened: ${dialog.message()}`);
      await dialog.dismiss();
    });
  });
  after(async () => {
    await context?.close();
    if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  });
}

/** Saves a full-page screenshot. */
export async function shot(name) {
  shotNumber += 1;
  const file = join(SHOTS, `${shotPrefix}${String(shotNumber).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
}

/** Fails on any error seen since the last check, and starts a new check. */
export function assertNoProblems() {
  const seen = problems;
  problems = [];
  assert.deepEqual(seen, [], 'no JavaScript or console errors');
}

/** Forgets the errors seen so far, or only those `which` matches. */
export function forgetProblems(which = () => true) {
  problems = problems.filter((p) => !which(p));
}

/** The next step asks for a page with this status (null: a normal page). */
export function expectStatus(status) {
  expectedStatus = status;
}

/** Loads `path` and asserts its status. */
export async function open(path, status = 200) {
  expectStatus(status === 200 ? null : status);
  const response = await page.goto(BASE + path, { waitUntil: 'load' });
  assert.equal(response.status(), status, `GET ${path}`);
  return response;
}
