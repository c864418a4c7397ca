// Smoke test of the real product: `ocelot serve --demo` in headless Chromium. Run by
// scripts/test as `OCELOT_BROWSER_TESTS=demo.smoke.mjs scripts/browser-test ocelot serve --demo ...`.
// The demo's data is live and random, so this checks what must always hold: the four
// services appear, their boards render, and a gateway request's LogView links to the tree of
// the service it called, whose page links back to its caller. No JavaScript errors anywhere.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { BASE, assertNoProblems, forgetProblems, open, page, shot, useBrowser } from './browser.mjs';

const SERVICES = ['gateway', 'order-service', 'payment-service', 'user-service'];

useBrowser('demo-');

test('within a minute the home page lists all four demo services', async () => {
  const deadline = Date.now() + 60_000;
  let text = '';
  while (Date.now() < deadline) {
    await open('/');
    text = await page.locator('main').innerText();
    if (SERVICES.every((s) => text.includes(s))) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  for (const s of SERVICES) assert.ok(text.includes(s), `${s} is on the home page`);
  await shot('home');
  assertNoProblems();
});

test('the gateway transaction board shows URL and Call types', async () => {
  await open('/t?domain=gateway');
  const text = await page.locator('main').innerText();
  assert.match(text, /URL/);
  assert.match(text, /Call/);
  await shot('transactions');
  assertNoProblems();
});

test('the gateway depends on order-service, which lists the gateway as its caller', async () => {
  await open('/d?domain=gateway');
  const depends = await page.locator('section.panel', { hasText: 'Depends on' }).innerText();
  assert.match(depends, /order-service/);
  await shot('dependencies');
  await Promise.all([page.waitForURL(/domain=order-service/), page.locator('a', { hasText: 'order-service' }).first().click()]);
  const called = await page.locator('section.panel', { hasText: 'Called by' }).innerText();
  assert.match(called, /gateway/);
  assert.match(await page.locator('section.panel', { hasText: 'Depends on' }).innerText(), /jdbc:mysql/);
  assertNoProblems();
});

test('a gateway request links to the order-service tree it called, and back', async () => {
  // A sample of the order-creating URL, from the JSON API the board is built on.
  let id = '';
  const deadline = Date.now() + 30_000;
  while (!id && Date.now() < deadline) {
    const r = await page.request.get(`${BASE}/api/transaction?domain=gateway&hour=current&type=URL`);
    if (r.ok()) {
      const names = (await r.json()).types.flatMap((t) => t.names);
      const create = names.find((n) => n.name === '/api/order/create');
      id = create?.sampleMessageId || '';
    }
    if (!id) await new Promise((r) => setTimeout(r, 1000));
  }
  assert.ok(id, 'a sample /api/order/create request');
  // The report names a sample as soon as the tree is analysed; the store makes the tree
  // findable within its flush interval (1 s) and a writer tick: give it that long.
  let found = false;
  for (let i = 0; i < 10 && !found; i += 1) {
    const response = await page.goto(`${BASE}/m/${encodeURIComponent(id)}`, { waitUntil: 'load' });
    found = response.status() === 200;
    if (!found) await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(found, `the sample tree ${id} is found`);
  assert.match(await page.locator('main').innerText(), /RemoteCall/);
  await shot('logview-gateway');
  // The callee's tree is stored by the ID the caller made; give the store its flush.
  const callee = page.locator('a', { hasText: 'callee' }).first();
  const href = await callee.getAttribute('href');
  assert.ok(href && href.includes('order-service-'), `callee link ${href}`);
  let ok = false;
  for (let i = 0; i < 10 && !ok; i += 1) {
    const response = await page.goto(BASE + href, { waitUntil: 'load' });
    ok = response.status() === 200;
    if (!ok) await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(ok, 'the callee tree is found');
  const text = await page.locator('main').innerText();
  assert.match(text, /OrderService\.create/);
  assert.ok(text.includes(id), 'the callee page names its parent');
  await shot('logview-callee');
  forgetProblems((p) => p.includes('status of 404'));
  assertNoProblems();
});

test('problem, heartbeat and state pages render for the demo', async () => {
  for (const path of ['/p?domain=payment-service', '/state', '/alerts']) {
    await open(path);
    await shot(path.replace(/[^a-z]/g, '_'));
  }
  assertNoProblems();
});
