// Browser test of keyboard use and page layout: the board selectors can be browsed with the
// arrow keys without reloading the page, every page fits a 420 px phone without scrolling
// sideways, and chart text in a grid of charts is drawn at a readable size. Run through
// scripts/browser-test against the browser fixture (web/examples/browser_fixture.rs).
// Screenshots go to target/browser-screenshots/ (prefix "layout-").

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { assertNoProblems, open, page, shot, useBrowser } from './browser.mjs';

const DOMAIN = process.env.OCELOT_BOARD_DOMAIN || 'app-0';
const FAILING_ID = process.env.OCELOT_FAILING_ID || 'shop-7f000001-498703-7';

useBrowser('layout-');

test('arrow keys browse a selector without reloading; Enter shows the choice', async () => {
  await open(`/t?domain=${DOMAIN}`);
  const url = page.url();
  const show = page.locator('form.selectors button[type=submit]');
  assert.ok(await show.isVisible(), 'the Show button is visible');
  const select = page.locator('form.selectors select[name=domain]');
  await select.focus();
  await page.keyboard.press('ArrowDown');
  const next = await select.inputValue();
  assert.notEqual(next, DOMAIN, 'the arrow moved to the next domain');
  await page.waitForTimeout(500);
  assert.equal(page.url(), url, 'no reload while browsing');
  assert.ok(await select.evaluate((el) => el === document.activeElement), 'focus stays on the select');
  await Promise.all([page.waitForURL((u) => u.searchParams.get('domain') === next), page.keyboard.press('Enter')]);
  assert.equal(await page.locator('form.selectors select[name=domain]').inputValue(), next);
  assertNoProblems();
});

test('a selector changed with the pointer shows the choice at once', async () => {
  await open(`/t?domain=${DOMAIN}`);
  const select = page.locator('form.selectors select[name=domain]');
  // A key press, then the pointer: the pointer's choice wins.
  await select.focus();
  await page.keyboard.press('Shift');
  await select.dispatchEvent('pointerdown');
  await Promise.all([page.waitForURL(/domain=catgen/), select.selectOption('catgen')]);
  assertNoProblems();
});

test('chart text in a grid of charts is drawn 10 px or larger', async () => {
  await open(`/h?domain=${DOMAIN}`);
  // The font size times the chart's scale: the size the text is drawn at.
  const sizes = await page.locator('.charts.grid svg.chart text.tick').evaluateAll(
    (texts) => texts.map((t) => t.getScreenCTM().a * parseFloat(getComputedStyle(t).fontSize)));
  assert.ok(sizes.length > 0);
  assert.ok(Math.min(...sizes) >= 10, `tick labels drawn at ${Math.min(...sizes).toFixed(1)} px`);
  await shot('heartbeats-1360');
  assertNoProblems();
});

test('every page fits a 420 px wide screen', async () => {
  await page.setViewportSize({ width: 420, height: 900 });
  try {
    const pages = [
      ['home', '/'],
      ['transactions', `/t?domain=${DOMAIN}&type=URL&name=${encodeURIComponent('/api/order/create/{num}')}`],
      ['heartbeats', `/h?domain=${DOMAIN}`],
      ['state', '/state'],
      ['logview', `/m/${FAILING_ID}`],
    ];
    for (const [name, path] of pages) {
      await open(path);
      const { scroll, client } = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
      }));
      assert.ok(scroll <= client, `${path}: the page is ${scroll} px wide in a ${client} px window`);
      const offscreen = await page.locator('svg.chart').evaluateAll(
        (charts) => charts.filter((c) => c.getBoundingClientRect().right > document.documentElement.clientWidth).length);
      assert.equal(offscreen, 0, `${path}: charts stay on screen`);
      await shot(`${name}-420`);
    }
    // LogView: the duration column is on screen.
    const duration = await page.locator('table.tree td.col-duration').first().boundingBox();
    assert.ok(duration && duration.x + duration.width <= 420, 'the Duration column is on screen');
    // Names break between words, not letter by letter: a short name keeps to one line.
    await open(`/t?domain=${DOMAIN}`);
    const lines = await page.locator('table.report td.name a').first().evaluate(
      (a) => a.getClientRects().length);
    assert.equal(lines, 1, 'a type name stays on one line');
  } finally {
    await page.setViewportSize({ width: 1360, height: 900 });
  }
  assertNoProblems();
});
