// Browser test of the Ocelot web UI: headless Chromium (Debian's /usr/bin/chromium) driven
// by playwright-core. Run through scripts/browser-test, which starts a server and sets
// OCELOT_URL. Fails on any JavaScript error or unexpected console error, and keeps a
// screenshot of every step in target/browser-screenshots/.
//
// Environment:
//   OCELOT_URL          base URL of a running server (required)
//   OCELOT_FAILING_ID   a failing tree whose header has a parent ID (fixture default)
//   OCELOT_SCRIPT_ID    a tree typed <script>alert(1)</script> (fixture default)
//   OCELOT_SCREENSHOTS  where screenshots go (default: <repo>/target/browser-screenshots)

import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  BASE, assertNoProblems, expectStatus, forgetProblems, open, page, shot, useBrowser,
} from './browser.mjs';

const FAILING_ID = process.env.OCELOT_FAILING_ID || 'shop-7f000001-498703-7';
const SCRIPT_ID = process.env.OCELOT_SCRIPT_ID || 'xss-7f000001-498703-1';
const UNKNOWN_ID = 'nosuchdomain-0a000001-498703-424242';

useBrowser('');

test('home page shows navigation and the search box', async () => {
  await open('/');
  for (const label of ['Transactions', 'Events', 'Problems', 'Heartbeats', 'Metrics', 'State', 'Alerts']) {
    assert.equal(await page.locator('nav.mainnav a', { hasText: label }).count(), 1, label);
  }
  assert.ok(await page.locator('form.search input[name=id]').isVisible());
  const css = await page.evaluate(() => getComputedStyle(document.querySelector('.topbar')).display);
  assert.equal(css, 'flex', 'the embedded stylesheet is applied');
  await shot('home');
  assertNoProblems();
});

test('LogView of a failing tree shows the failure, the waterfall and the data', async () => {
  await open(`/m/${FAILING_ID}`);
  assert.match(await page.locator('.tree-summary').innerText(), /This request failed/);
  const failedRows = page.locator('tr.row.failed');
  assert.ok((await failedRows.count()) >= 1, 'failed rows are marked');
  const bars = page.locator('tr.row .bar');
  assert.ok((await bars.count()) >= 1, 'transactions have waterfall bars');
  const colour = await page.locator('tr.row.failed .bar').first()
    .evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.equal(colour, 'rgb(214, 69, 53)', 'failed bars are red');
  const folded = page.locator('details.data').first();
  if ((await folded.count()) > 0) {
    await folded.locator('summary').click();
    assert.ok(await folded.locator('pre').isVisible(), 'long data unfolds');
  }
  await shot('logview-failing');
  assertNoProblems();
});

test('the parent link opens the parent tree', async () => {
  const parent = page.locator('a.parent-link');
  assert.equal(await parent.count(), 1, 'the failing tree links its parent');
  const href = await parent.getAttribute('href');
  expectStatus(null);
  await Promise.all([page.waitForURL(BASE + href), parent.click()]);
  assert.match(await page.locator('dl.facts').innerText(), new RegExp(decodeURIComponent(href.slice(3))));
  await shot('logview-parent');
  assertNoProblems();
});

test('a RemoteCall event links to the callee tree', async (t) => {
  const callee = page.locator('a.remote-link').first();
  if ((await callee.count()) === 0) {
    t.skip('this tree has no RemoteCall event');
    return;
  }
  const href = await callee.getAttribute('href');
  const from = page.url();
  await Promise.all([page.waitForURL(BASE + href), callee.click()]);
  const back = page.locator('a.parent-link');
  if ((await back.count()) > 0) {
    assert.equal(await back.getAttribute('href'), new URL(from).pathname, 'the callee names its caller as parent');
  }
  assert.match(await page.locator('dl.facts').innerText(), new RegExp(decodeURIComponent(href.slice(3))));
  await shot('logview-callee');
  await page.goBack();
  assert.equal(page.url(), from, 'back returns to the caller');
  assertNoProblems();
});

test('searching an unknown ID shows a clear not-found page', async () => {
  expectStatus(404);
  const input = page.locator('form.search input[name=id]');
  await input.fill(UNKNOWN_ID);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/m/${UNKNOWN_ID}`)),
    input.press('Enter'),
  ]);
  await page.waitForLoadState('load');
  assert.equal(response.status(), 404);
  assert.equal(await page.locator('h1').innerText(), 'No such message');
  assert.match(await page.locator('.error-detail').innerText(), /nosuchdomain/);
  assert.equal(await input.inputValue(), UNKNOWN_ID, 'the search box keeps the ID');
  await shot('unknown-id');
  assertNoProblems();
});

test('searching something that is not an ID explains what an ID looks like', async () => {
  expectStatus(400);
  const input = page.locator('form.search input[name=id]');
  await input.fill('hello world');
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url().includes('/search?id=')),
    input.press('Enter'),
  ]);
  await page.waitForLoadState('load');
  assert.equal(response.status(), 400);
  assert.equal(await page.locator('h1').innerText(), 'Not a message ID');
  assert.match(await page.locator('.error-detail').innerText(), /domain-hexip-hour-seq/);
  await shot('malformed-id');
  assertNoProblems();
});

test('a tree typed <script> is shown as text and never runs', async () => {
  await open(`/m/${SCRIPT_ID}`);
  assert.equal(await page.locator('script:not([src="/assets/board.js"])').count(), 0,
    'no script element on the page but our own asset');
  const heading = await page.locator('h1').innerText();
  assert.ok(heading.includes('<script>alert(1)</script>'), `heading shows the text: ${heading}`);
  assert.ok((await page.locator('td.col-message').first().innerText()).includes('<script>'));
  await shot('escaped-script');
  assertNoProblems();
});
