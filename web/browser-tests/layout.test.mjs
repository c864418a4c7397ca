// Browser test of keyboard use and page layout: the board selectors can be browsed with the
// arrow keys without reloading the page, every page fits a 420 px phone without scrolling
// sideways, chart text is drawn at a readable size on a desktop and on a phone, and a table
// that scrolls sideways keeps its first column in view and shows a shadow on the side with
// more. Run through scripts/browser-test against the browser fixture
// (web/examples/browser_fixture.rs).
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
  await open(`/h?domain=${DOMAIN}&ip=10.0.0.1`);
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
      ['heartbeats-machine', `/h?domain=${DOMAIN}&ip=10.0.0.1`],
      ['state', '/state'],
      ['alerts', '/alerts'],
      ['logview', `/m/${FAILING_ID}`],
      ['trace', `/trace/${FAILING_ID}`],
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

test('on a laptop screen the search sits beside the navigation, in one bar', async () => {
  // 1360 px: the bar took two rows, the search alone on the second, 50 px off every page.
  await open('/');
  const nav = await page.locator('.mainnav').boundingBox();
  const search = await page.locator('.search input').boundingBox();
  assert.ok(Math.abs(search.y - nav.y) < nav.height, `search at y=${search.y}, navigation at y=${nav.y}`);
  assert.ok(search.width >= 200, `the search is ${search.width} px wide`);
  assertNoProblems();
});

/** The sizes, in px, that the text of the charts on screen is drawn at: the font size times
 * the chart's scale. */
async function chartTextSizes() {
  return page.locator('svg.chart:visible text').evaluateAll(
    (texts) => texts.map((t) => t.getScreenCTM().a * parseFloat(getComputedStyle(t).fontSize)));
}

test('chart text is drawn 10 px or larger on a 420 px phone, wide charts in their narrow drawing', async () => {
  const pages = [
    ['transactions', `/t?domain=${DOMAIN}&type=URL`],
    ['transactions-day', `/t?domain=${DOMAIN}&type=URL&day=20261122`],
    ['problems', `/p?domain=${DOMAIN}`],
    ['heartbeats', `/h?domain=${DOMAIN}&ip=10.0.0.1`],
    ['dependencies', `/d?domain=${DOMAIN}`],
    ['state', '/state'],
  ];
  await open(pages[0][1]);
  assert.ok(await page.locator('svg.chart.wide').first().isVisible(), 'a desktop shows the wide drawing');
  assert.equal(await page.locator('svg.chart.narrow:visible').count(), 0);
  await page.setViewportSize({ width: 420, height: 900 });
  try {
    for (const [name, path] of pages) {
      await open(path);
      const sizes = await chartTextSizes();
      assert.ok(sizes.length > 0, `${path}: charts`);
      assert.ok(Math.min(...sizes) >= 10, `${path}: chart text drawn at ${Math.min(...sizes).toFixed(1)} px`);
      assert.equal(await page.locator('svg.chart.wide:visible').count(), 0, `${path}: no wide drawing on a phone`);
      await shot(`charts-${name}-420`);
    }
  } finally {
    await page.setViewportSize({ width: 1360, height: 900 });
  }
  assertNoProblems();
});

/** The median brightness (0-255) of each 3 px wide strip of the page whose left edges are
 * `xs`, from `top` to `bottom` (page coordinates), as drawn: text crosses a strip in a few
 * rows, a shadow darkens most of them. */
async function stripBrightness(xs, top, bottom) {
  const height = Math.round(bottom - top);
  const clips = xs.map((x) => ({ x: Math.round(x), y: Math.round(top), width: 3, height }));
  const pngs = [];
  for (const clip of clips) pngs.push((await page.screenshot({ clip, fullPage: true })).toString('base64'));
  // Decoded on a blank page: the pages' Content-Security-Policy allows no data: images.
  const blank = await page.context().newPage();
  try {
    return await blank.evaluate(async (images) => {
      const medians = [];
      for (const data of images) {
        const img = new Image();
        img.src = `data:image/png;base64,${data}`;
        await img.decode();
        const canvas = document.createElement('canvas');
        canvas.width = img.width;
        canvas.height = img.height;
        const ctx = canvas.getContext('2d');
        ctx.drawImage(img, 0, 0);
        const { data: px } = ctx.getImageData(0, 0, img.width, img.height);
        const values = [];
        for (let i = 0; i < px.length; i += 4) values.push((px[i] + px[i + 1] + px[i + 2]) / 3);
        values.sort((a, b) => a - b);
        medians.push(values[values.length >> 1]);
      }
      return medians;
    }, pngs);
  } finally {
    await blank.close();
  }
}

test('a table that scrolls sideways on a phone keeps its first column in view, with a shadow on the side with more', async () => {
  await page.setViewportSize({ width: 420, height: 900 });
  try {
    const selected = `/t?domain=${DOMAIN}&type=URL&name=${encodeURIComponent('/api/order/create/{num}')}`;
    for (const path of [selected, '/alerts']) {
      await open(path);
      const wrap = page.locator('.table-wrap').first();
      const { scroll, client } = await wrap.evaluate((w) => ({ scroll: w.scrollWidth, client: w.clientWidth }));
      assert.ok(scroll > client + 100, `${path}: the table scrolls (${scroll} px in ${client} px)`);
      const firstColumn = wrap.locator('thead tr:first-child th:first-child, tbody td:first-child');
      const lefts = () => firstColumn.evaluateAll((cells) => cells.map((c) => c.getBoundingClientRect().left));
      // In page coordinates: the box, and the right edge of its first column.
      const { left, right, top, bottom, columnRight } = await wrap.evaluate((w) => {
        const box = w.getBoundingClientRect();
        const corner = w.querySelector('thead th').getBoundingClientRect();
        return {
          left: box.left + scrollX, right: box.right + scrollX, top: box.top + scrollY, bottom: box.bottom + scrollY,
          columnRight: corner.right + scrollX,
        };
      });
      assert.ok(columnRight - left < (right - left) * 0.6,
        `${path}: the first column (${columnRight - left} px) leaves room for the rest (${right - left} px)`);
      // 3 px strips: inside the box's right edge, and just right of the first column.
      const strips = () => stripBrightness([right - 3, columnRight], top, bottom);
      const startLefts = await lefts();
      const [startRight, startColumn] = await strips();
      await wrap.evaluate((w) => { w.scrollLeft = w.scrollWidth; });
      // Two frames: board.js marks the box on the scroll event, then it is drawn.
      await page.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
      const [endRight, endColumn] = await strips();
      assert.deepEqual(await lefts(), startLefts, `${path}: the first column stays in place`);
      assert.ok(startRight < endRight - 15, `${path}: a shadow on the right before scrolling (${startRight} vs ${endRight})`);
      assert.ok(endColumn < startColumn - 25,
        `${path}: a shadow right of the first column once scrolled (${endColumn} vs ${startColumn})`);
      assert.ok(startColumn > 240 && endRight > 240, `${path}: none where the table ends`);
      // Cells scrolled under the first column do not show through it, and a tinted row keeps
      // its tint there: a first cell is the colour of its row's other cells drawn on white.
      await wrap.locator('tbody tr').nth(1).hover();
      const mismatched = await wrap.locator('tbody tr').evaluateAll((rows) => rows.flatMap((row) => {
        const rgba = (cell) => getComputedStyle(cell).backgroundColor.match(/[\d.]+/g).map(Number);
        const [r, g, b, a = 1] = rgba(row.cells[1]);
        const onWhite = [r, g, b].map((c) => Math.round(c * a + 255 * (1 - a)));
        const first = rgba(row.cells[0]);
        const opaque = (first[3] ?? 1) === 1;
        const same = onWhite.every((c, i) => Math.abs(c - first[i]) <= 1);
        return opaque && same ? [] : [`${row.className || 'plain'} row: ${first} vs ${onWhite}`];
      }));
      assert.deepEqual(mismatched, [], `${path}: first cells opaque, in their row's tint`);
      await shot(`${path === '/alerts' ? 'alerts' : 'transactions'}-scrolled-420`);
      // A name longer than the screen is wide wraps rather than hide the figures.
      await wrap.locator('tbody td:first-child a').first().evaluate((a) => { a.textContent = '/api/order'.repeat(8); });
      const width = await wrap.locator('tbody td:first-child').first().evaluate((c) => c.getBoundingClientRect().width);
      assert.ok(width < (right - left) * 0.6, `${path}: a long name's column is ${width} px of ${right - left} px`);
    }
  } finally {
    await page.setViewportSize({ width: 1360, height: 900 });
  }
  assertNoProblems();
});

test('the alert rules\' conditions keep a readable width on a phone', async () => {
  await page.setViewportSize({ width: 420, height: 900 });
  try {
    await open('/alerts');
    const widths = await page.locator('table.report td.condition').evaluateAll(
      (cells) => cells.map((c) => c.getBoundingClientRect().width));
    assert.ok(widths.length >= 2, 'the fixture has rules');
    const rem = await page.evaluate(() => parseFloat(getComputedStyle(document.documentElement).fontSize));
    assert.ok(Math.min(...widths) >= 13 * rem - 1, `conditions ${widths.map(Math.round)} px wide`);
    // The longest condition wraps into lines of a few words, not a word or two.
    const lines = await page.locator('table.report td.condition').last().evaluate((c) => {
      const range = document.createRange();
      range.selectNodeContents(c.firstChild);
      return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
    });
    assert.ok(lines <= 3, `the condition takes ${lines} lines`);
    await shot('alerts-420');
  } finally {
    await page.setViewportSize({ width: 1360, height: 900 });
  }
  assertNoProblems();
});
