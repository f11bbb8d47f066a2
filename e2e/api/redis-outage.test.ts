// Redis down: 503 + Retry-After at once (no hanging requests), readiness fails. Redis back but
// empty (a restart loses its data): a sale PostgreSQL knows answers 503 recovering, never sold
// out, until it is seeded again from PostgreSQL; then orders flow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ServiceControl } from '../../tools/stack/control.js';
import { countBy, http, initSale, order, startApi, uniqueName, waitFor, type ApiHarness } from '../support/api.js';

let h: ApiHarness;
const control = new ServiceControl();

beforeAll(async () => {
  h = await startApi('redis-outage');
});

afterAll(async () => {
  await control.start('redis');
  await h?.close();
});

describe('Redis outage', () => {
  it('503 while Redis is down; recovering (not sold out) after it restarts empty; orders again once seeded', async () => {
    const productId = uniqueName('redis-down');
    await initSale(h.base, { productId, quantity: 50 });
    expect((await order(h.base, { productId, userId: 'a' })).status).toBe(200);

    await control.stop('redis');
    const during = await Promise.all(Array.from({ length: 10 }, (_, i) => order(h.base, { productId, userId: `d-${i}` })));
    expect(countBy(during, (r) => r.status)).toEqual({ 503: 10 });
    for (const r of during) {
      expect(r.body).toMatchObject({ status: 'unavailable', message: expect.stringMatching(/^Redis unavailable/) });
      expect(r.headers['retry-after']).toBe('1');
    }
    expect((await http(h.base, 'GET', '/readyz')).body).toMatchObject({ status: 'not_ready', redis: false });

    await control.start('redis'); // no persistence in the stack: it comes back empty
    await waitFor('readiness', async () => ((await http(h.base, 'GET', '/readyz')).status === 200 ? true : undefined));
    const afterRestart = await Promise.all(Array.from({ length: 10 }, (_, i) => order(h.base, { productId, userId: `r-${i}` })));
    expect(countBy(afterRestart, (r) => r.status)).toEqual({ 503: 10 });
    for (const r of afterRestart) expect(r.body.status).toBe('recovering');
    expect((await http(h.base, 'GET', `/inventory/${productId}`)).body.status).toBe('recovering');
    expect((await order(h.base, { productId: uniqueName('never-sold'), userId: 'x' })).status).toBe(404);

    // /init seeds from PostgreSQL (the operator does the same after draining the topic).
    await initSale(h.base, { productId, quantity: 49 });
    const r = await order(h.base, { productId, userId: 'b' });
    expect(r.status).toBe(200);
    expect(r.body.remaining).toBe(48);
  });
});
