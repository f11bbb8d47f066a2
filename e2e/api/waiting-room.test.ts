// The /waiting-room page in headless Chromium (Debian package, driven by playwright-core) against the
// built API and the real stack: it joins the line, shows the place and the estimate, updates them,
// orders by itself when admitted, or says sold out. Checked on the screenshots' pixels, not only the DOM.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countColour, readPng } from '../support/png.js';
import { http, initSale, order, startApi, uniqueName, type ApiHarness } from '../support/api.js';

const KEYS = 'k1:waiting-room-e2e-0123456789-0123456789';
const SHOTS = joinPath(process.cwd(), '.e2e-screenshots');
let h: ApiHarness;
let browser: Browser;

beforeAll(async () => {
  h = await startApi('wroom', { ADMISSION_SIGNING_KEYS: KEYS });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(SHOTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await h?.close();
});

const DARK: [number, number, number] = [34, 34, 34];
const GREEN: [number, number, number] = [17, 119, 45];
const RED: [number, number, number] = [170, 17, 17];

async function shot(page: import('playwright-core').Page, name: string, selector?: string) {
  const png = selector ? await page.locator(selector).screenshot() : await page.screenshot({ fullPage: true });
  writeFileSync(joinPath(SHOTS, `${name}.png`), png);
  return readPng(png);
}

describe('/waiting-room', () => {
  it('joins, shows the place and the estimate as they move, then orders by itself when admitted', async () => {
    const productId = uniqueName('page');
    await initSale(h.base, { productId, quantity: 50, admission: { mode: 'queue', ratePerSecond: 1 } });
    // 12 ahead at 1/s: the buyer still waits when a slow Chromium (a loaded machine) first draws the page.
    for (let i = 0; i < 12; i++) expect((await http(h.base, 'POST', '/queue', { body: { productId, userId: `ahead-${i}` } })).status).toBe(200);
    const page = await browser.newPage();
    await page.goto(`${h.base}/waiting-room?productId=${productId}&userId=buyer-1`);
    await page.waitForFunction(() => /^#\d+$/.test(document.getElementById('position')!.textContent!), undefined, { timeout: 30_000 });
    const first = Number((await page.textContent('#position'))!.slice(1));
    expect(first).toBeGreaterThan(0);
    expect(await page.textContent('#estimate')).toMatch(/Estimated wait: about \d+ s/);
    const waiting = await shot(page, 'waiting', '#card');
    expect(countColour(waiting, DARK, 30)).toBeGreaterThan(200); // the place number is drawn
    await page.waitForFunction((n) => {
      const t = document.getElementById('position')!.textContent!;
      return !/^#\d+$/.test(t) || Number(t.slice(1)) < n;
    }, first, { timeout: 60_000 });
    await page.waitForFunction(() => document.getElementById('status')!.className === 'done', undefined, { timeout: 60_000 });
    const orderId = /order (\S+) is placed/.exec((await page.textContent('#status'))!)?.[1];
    const done = await shot(page, 'admitted', '#status');
    expect(countColour(done, GREEN, 40)).toBeGreaterThan(50);
    await shot(page, 'admitted-page');
    // The order the page placed is real: Redis knows it, for this buyer.
    const stored = await http(h.base, 'GET', `/order/${orderId}`);
    expect(stored.body).toMatchObject({ orderId, productId, status: 'pending' });
    await page.close();
  }, 120_000);

  it('tells a waiting buyer the sale is sold out', async () => {
    const productId = uniqueName('page-sold');
    await initSale(h.base, { productId, quantity: 1, admission: { mode: 'queue', ratePerSecond: 1 } });
    const first = await http(h.base, 'POST', '/queue', { body: { productId, userId: 'lucky' } });
    for (let i = 0; i < 10; i++) await http(h.base, 'POST', '/queue', { body: { productId, userId: `other-${i}` } });
    const page = await browser.newPage();
    await page.goto(`${h.base}/waiting-room?productId=${productId}&userId=late`);
    await page.waitForFunction(() => /^#\d+$/.test(document.getElementById('position')!.textContent!), undefined, { timeout: 30_000 });
    const admitted = (await http(h.base, 'GET', `/queue/${first.body.ticket}`)).body;
    expect(admitted.state).toBe('admitted');
    expect((await order(h.base, { productId, userId: 'lucky' }, undefined, { 'x-admission-token': admitted.token })).status).toBe(200);
    await page.waitForFunction(() => document.getElementById('status')!.className === 'over', undefined, { timeout: 30_000 });
    expect(await page.textContent('#status')).toBe('Sorry, sold out.');
    const img = await shot(page, 'sold-out', '#status');
    expect(countColour(img, RED, 40)).toBeGreaterThan(50);
    await page.close();
  }, 120_000);

  it('a browser ordering a queued sale without a token is sent to the waiting room', async () => {
    const productId = uniqueName('page-redirect');
    await initSale(h.base, { productId, quantity: 5, admission: { mode: 'queue', ratePerSecond: 5 } });
    const r = await order(h.base, { productId, userId: 'b' }, 'key-1', { accept: 'text/html' });
    expect(r.status).toBe(302);
    expect(r.headers.location).toMatch(/^\/waiting-room\?productId=/);
  });
});
