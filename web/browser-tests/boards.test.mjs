// Browser test of the report boards: home -> transaction board -> a name's chart -> LogView
// of a failing sample -> problem board, then the other boards. Run through
// scripts/browser-test against the browser fixture (web/examples/browser_fixture.rs), whose
// clock stands inside hour 2026-11-22 07:00 UTC with generated traffic of app-0..app-2, the
// real CAT C client frames (domain catgen) and a domain named <script>alert(1)</script>.
// Fails on any JavaScript error, console error or dialog; screenshots go to
// target/browser-screenshots/ (prefix "board-").

import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  BASE, assertNoProblems, expectStatus, forgetProblems, open, page, shot, useBrowser,
} from './browser.mjs';

const DOMAIN = process.env.OCELOT_BOARD_DOMAIN || 'app-0';
const EVIL = '<script>alert(1)</script>';

useBrowser('board-');

async function clickAndWait(locator) {
  const href = await locator.getAttribute('href');
  expectStatus(null);
  await Promise.all([page.waitForURL((url) => url.href === new URL(href, BASE).href), locator.click()]);
  return href;
}

/** The numbers of a table column, by header label. */
async function columnNumbers(label) {
  return page.evaluate((label) => {
    const table = document.querySelector('section.panel:last-of-type table.report');
    const headers = [...table.querySelectorAll('thead th')].map((th) => th.textContent.replace('▾', '').trim());
    const index = headers.indexOf(label);
    return [...table.querySelectorAll('tbody tr')]
      .map((tr) => Number(tr.children[index].innerText.replace(/,/g, '')));
  }, label);
}

test('home lists every domain with its health, failing ones first', async () => {
  await open('/');
  const rows = page.locator('table.domains tbody tr');
  assert.ok((await rows.count()) >= 5, 'app-0..2, catgen and the script domain');
  const names = await page.locator('table.domains td.name a').allInnerTexts();
  for (const domain of ['app-0', 'app-1', 'app-2', 'catgen', EVIL]) {
    assert.ok(names.includes(domain), `${domain} in ${names}`);
  }
  const failing = await page.locator('table.domains tbody tr.unhealthy').count();
  const firstRows = await rows.evaluateAll((trs, n) => trs.slice(0, n).every((tr) => tr.classList.contains('unhealthy')), failing);
  assert.ok(failing > 0 && firstRows, 'unhealthy domains are listed first');
  assert.ok((await page.locator('table.domains svg.sparkline polyline').count()) >= 3, 'sparklines drawn');
  assert.equal(await page.locator('script:not([src="/assets/board.js"])').count(), 0, 'the <script> domain is text');
  await shot('home');
  assertNoProblems();
});

test('a domain opens its transaction board with figures and charts', async () => {
  await clickAndWait(page.locator('table.domains td.name a', { hasText: new RegExp(`^${DOMAIN}$`) }));
  assert.match(await page.locator('.board-title h1').innerText(), new RegExp(DOMAIN));
  assert.equal(await page.locator('.crumbs .current').innerText(), 'URL');
  const names = page.locator('table.report tbody tr');
  assert.ok((await names.count()) >= 5, 'the URL names are listed');
  for (const label of ['Count', 'Fail %', 'P50', 'P95', 'P99', 'P999', 'Std', 'TPS']) {
    assert.equal(await page.locator('table.report thead th', { hasText: label }).count() >= 1, true, label);
  }
  assert.equal(await page.locator('.charts svg.chart:visible').count(), 3, 'count, duration and failure charts');
  const counts = await columnNumbers('Count');
  assert.deepEqual(counts, [...counts].sort((a, b) => b - a), 'sorted by count by default');
  await shot('transactions-url');
  assertNoProblems();
});

test('a column header sorts the names by that column', async () => {
  await clickAndWait(page.locator('table.report thead th a', { hasText: /^P95$/ }));
  assert.match(page.url(), /sort=p95/);
  const p95 = await columnNumbers('P95');
  assert.ok(p95.length >= 5);
  assert.deepEqual(p95, [...p95].sort((a, b) => b - a), 'sorted by P95, highest first');
  assertNoProblems();
});

test('a failing name shows its per-minute charts and failed message IDs', async () => {
  const row = page.locator('table.report tbody tr', { has: page.locator('a.msg-link.failed') }).first();
  assert.equal(await row.count(), 1, 'some URL name failed');
  const name = await row.locator('td.name a').innerText();
  await clickAndWait(row.locator('td.name a'));
  const detail = page.locator('#name-detail');
  assert.equal(await detail.locator('h2').first().innerText(), name);
  assert.equal(await detail.locator('svg.chart:visible').count(), 3);
  const legend = await detail.locator('svg.chart:visible text.legend').allTextContents();
  assert.deepEqual(legend, ['avg', 'P95'], 'the duration chart has avg and P95');
  assert.ok((await detail.locator('svg.chart:visible rect.chart-bar').count()) >= 60, 'per-minute bars');
  assert.ok(await page.locator('tr.selected').isVisible(), 'the chosen name is highlighted');
  await shot('transaction-name');
  assertNoProblems();
});

test('a failed message ID opens LogView of the failing tree', async () => {
  const failed = page.locator('#name-detail a.msg-link.failed').first();
  const href = await clickAndWait(failed);
  assert.match(href, /^\/m\//);
  assert.match(await page.locator('.tree-summary').innerText(), /This request failed/);
  assert.ok((await page.locator('tr.row.failed').count()) >= 1, 'failed rows are marked');
  await shot('logview-failed-sample');
  assertNoProblems();
});

test('the problem board groups problems by category with sample links', async () => {
  await open(`/p?domain=${DOMAIN}`);
  const error = page.locator('section.problem-category#error');
  assert.equal(await error.count(), 1, 'an error category');
  assert.ok((await error.locator('tbody tr').count()) >= 1);
  assert.ok((await error.locator('svg.chart:visible').count()) === 1, 'a per-minute chart');
  assert.ok((await page.locator('.category-pill').count()) >= 1);
  await shot('problems');
  const sample = error.locator('a.msg-link').first();
  await clickAndWait(sample);
  assert.ok(await page.locator('.tree-summary').isVisible(), 'a sample opens LogView');
  assertNoProblems();
});

test('a long category\'s bucket chip raises its threshold, and the note clears it', async () => {
  await open(`/p?domain=${DOMAIN}`);
  const category = page.locator('section.problem-category#long-call');
  assert.equal(await category.count(), 1, 'the fixture has slow calls');
  const chips = category.locator('p.hint a.bucket');
  assert.ok((await chips.count()) >= 2, 'slow calls in two buckets or more');
  const top = chips.last();
  const inTop = (await top.innerText()).trim().split(/\s+/).pop();
  await clickAndWait(top);
  assert.match(decodeURIComponent(page.url()), /long_ms=long-call:\d+/);
  const raised = page.locator('section.problem-category#long-call');
  const heading = (await raised.locator('h2').innerText()).trim().split(/\s+/);
  assert.equal(heading[1], inTop, 'the category counts only the top bucket');
  assert.ok(await raised.locator('p.threshold-note').isVisible(), 'the page says what the counts are');
  assert.equal(await raised.locator('p.hint a.bucket[aria-current="true"]').count(), 1);
  await shot('problems-raised');
  await clickAndWait(raised.locator('a.clear-threshold'));
  assert.ok(!page.url().includes('long_ms'), 'cleared');
  assert.equal(await page.locator('section.problem-category#long-call p.threshold-note').count(), 0);
  assertNoProblems();
});

test('the event board lists types and a type its names', async () => {
  await open(`/e?domain=${DOMAIN}`);
  assert.ok((await page.locator('table.report tbody tr').count()) >= 3);
  await clickAndWait(page.locator('table.report td.name a', { hasText: /^Exception$/ }));
  assert.equal(await page.locator('.charts svg.chart:visible').count(), 2);
  await shot('events');
  assertNoProblems();
});

test('the heartbeat page lists the machines, charts every series of one and switches machines', async () => {
  await open(`/h?domain=${DOMAIN}`);
  assert.equal(await page.locator('table.machines tbody tr').count(), 3, 'a row per machine');
  await shot('heartbeat-machines');
  await clickAndWait(page.locator('table.machines td.name a', { hasText: /^10\.0\.0\.1$/ }));
  assert.ok((await page.locator('.charts svg.chart:visible').count()) >= 5, 'a chart per series');
  const select = page.locator('form.selectors select[name=ip]');
  await Promise.all([page.waitForURL(/ip=10\.0\.0\.2/), select.selectOption('10.0.0.2')]);
  assert.match(await page.locator('.panel h2').first().innerText(), /10\.0\.0\.2/);
  await shot('heartbeats');
  assertNoProblems();
});

test('the metric and state pages show their figures', async () => {
  await open('/metric?domain=catgen');
  assert.ok((await page.locator('table.report tbody tr').count()) >= 1);
  await shot('metrics');
  await open('/state');
  const stats = await page.locator('.stats').innerText();
  assert.match(stats, /Dropped\s*17/i);
  assert.match(await page.locator('section.panel', { hasText: 'Drops' }).innerText(), /queue_full/);
  await shot('state');
  assertNoProblems();
});

test('a domain named <script> is shown as text on every board', async () => {
  await open(`/t?domain=${encodeURIComponent(EVIL)}&hour=current`);
  assert.ok((await page.locator('.board-title h1').innerText()).includes(EVIL));
  assert.equal(await page.locator('script:not([src="/assets/board.js"])').count(), 0);
  await clickAndWait(page.locator('table.report td.name a').first());
  assert.ok((await page.locator('.crumbs .current').innerText()).includes(EVIL));
  await shot('script-domain');
  assertNoProblems();
});

test('hour navigation reaches the previous hour and back', async () => {
  await open(`/t?domain=${DOMAIN}`);
  await clickAndWait(page.locator('.hour-nav a', { hasText: 'Previous hour' }));
  assert.match(await page.locator('.board-sub').innerText(), /06:00 UTC/);
  assert.ok((await page.locator('table.report tbody tr').count()) >= 1, 'the previous hour has data');
  await clickAndWait(page.locator('.hour-nav a', { hasText: 'Current hour' }));
  assert.match(await page.locator('.board-sub').innerText(), /07:00 UTC/);
  assertNoProblems();
});

test('the whole day adds up its hours and charts them hour by hour', async () => {
  await open(`/t?domain=${DOMAIN}&type=URL&hour=2026112206`);
  const earlier = (await columnNumbers('Count')).reduce((a, b) => a + b, 0);
  await open(`/t?domain=${DOMAIN}&type=URL`);
  const current = (await columnNumbers('Count')).reduce((a, b) => a + b, 0);
  assert.ok(earlier > 0 && current > 0, 'both hours have URL transactions');
  await clickAndWait(page.locator('.hour-nav a.day-link'));
  assert.match(page.url(), /day=20261122/);
  assert.match(await page.locator('.board-sub').innerText(), /whole day/i);
  const day = (await columnNumbers('Count')).reduce((a, b) => a + b, 0);
  assert.equal(day, earlier + current, 'the day is its hours 06:00 and 07:00 added up');
  assert.equal(await page.locator('.charts svg.chart:visible').count(), 3, 'count, duration and failure charts');
  const titles = await page.locator('.charts svg.chart:visible').allTextContents();
  assert.ok(titles.some((t) => /per hour/i.test(t)), 'hourly, not per-minute, charts');
  await shot('transactions-day');
  await clickAndWait(page.locator('.hour-nav a.hour-link'));
  assert.doesNotMatch(page.url(), /day=/);
  await open(`/p?domain=${DOMAIN}&day=20261122`);
  const error = page.locator('section.problem-category#error');
  assert.equal(await error.count(), 1, 'the day has an error category');
  assert.match(await error.innerText(), /per hour/i, 'its chart is hour by hour');
  await shot('problems-day');
  assertNoProblems();
});

test('bad parameters give a friendly 400 page', async () => {
  await open('/t?hour=yesterday', 400);
  assert.match(await page.locator('.error-detail').innerText(), /hour/);
  await shot('bad-hour');
  forgetProblems();
});
