// spec.admission through the operator, on the real apiserver, Redis, Kafka and PostgreSQL: a queued
// FlashSale is seeded with its admission settings, buyers wait in its queue through the API and
// status.admission reports the line; a rate change takes over without a burst; direct is unchanged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saleKeys } from '../../core/redis/keys.js';
import { http } from '../support/api.js';
import type { RunningProcess } from '../support/processes.js';
import { flashSale, kubectl, startSaleStack, stopAll, testbed, uniqueName, waitForSale, type Backends } from './support.js';

const KEYS = 'k1:operator-e2e-key-0123456789-0123456789';
let ns = '';
let b: Backends;
let procs: RunningProcess[] = [];
let api = '';

beforeAll(async () => {
  const t = await testbed('adm');
  ({ ns, b } = t);
  ({ procs, apiBase: api } = await startSaleStack(t, {}, { ADMISSION_SIGNING_KEYS: KEYS }));
}, 240_000);

afterAll(() => stopAll(procs, b, 'SIGKILL'));

describe('spec.admission', () => {
  it('a queued FlashSale: the operator writes the settings to Redis and reports the line in status.admission', async () => {
    const productId = uniqueName('adm');
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('line', { productId, stock: 1000, admission: { mode: 'queue', ratePerSecond: 1, maxQueue: 500 } }) });
    await waitForSale(ns, 'line', 'seeded', (s) => s.status?.redis?.epoch !== undefined);
    expect(await b.redis.hmget(saleKeys(productId).meta, 'admMode', 'admRate', 'admTtl', 'admMax')).toEqual(['queue', '1', '120', '500']);

    for (let i = 0; i < 40; i++) expect((await http(api, 'POST', '/queue', { body: { productId, userId: `w${i}` } })).status).toBe(200);
    const s = await waitForSale(ns, 'line', 'the line in status.admission', (x) => (x.status as any)?.admission?.waiting > 20);
    const adm = (s.status as any).admission;
    expect(adm.waiting + adm.admitted).toBe(40);
    expect(adm.estimatedWaitSeconds).toBe(adm.waiting);

    // Order without a token: refused, nothing sold.
    const o = await http(api, 'POST', '/order', { body: { productId, userId: 'w0' }, headers: { 'x-idempotency-key': 'k' } });
    expect([o.status, o.body.status]).toEqual([403, 'admission_token_required']);

    // A faster rate takes over from where the counter is: everyone is in within seconds.
    await kubectl(['patch', 'fs', 'line', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { admission: { ratePerSecond: 1000 } } })]);
    const done = await waitForSale(ns, 'line', 'the line served', (x) => (x.status as any)?.admission?.waiting === 0);
    expect((done.status as any).admission.admitted).toBe(40);
  }, 180_000);

  it('direct (the default) keeps today\'s behaviour: no status.admission, orders need no token', async () => {
    const productId = uniqueName('direct');
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('plain', { productId, stock: 3 }) });
    const s = await waitForSale(ns, 'plain', 'Active', (x) => x.status?.phase === 'Active');
    expect((s.status as any).admission).toBeUndefined();
    expect(await b.redis.hget(saleKeys(productId).meta, 'admMode')).toBe('direct');
    const o = await http(api, 'POST', '/order', { body: { productId, userId: 'u' }, headers: { 'x-idempotency-key': 'k' } });
    expect(o.status).toBe(200);
  }, 120_000);
});
