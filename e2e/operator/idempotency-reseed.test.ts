// One order per idempotency key across a Redis data loss: a key whose order is already stored in
// PostgreSQL, retried after FLUSHALL and the operator's reseed, answers that same orderId (or is
// refused), never a second 200 with a new orderId that the worker then stores rejected 'duplicate'.
// The window of the long chaos run (seed 536877017, k5904-cogq79): the client lost the first
// answer (reset / 503), Redis lost the key's record, and the retry reached an API pod that had
// not accepted it, so only Redis could tie the key to its order.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProcess } from '../support/processes.js';
import { order } from '../support/api.js';
import {
  condition, flashSale, kubectl, startApi, startSaleStack, stopAll, testbed, uniqueName, waitFor, waitForSale, type Testbed,
} from './support.js';

let t: Testbed;
const procs: RunningProcess[] = [];
/** The API that accepts the first orders, and another pod the retries reach (its replay cache never saw the keys). */
let firstApi = '';
let otherApi = '';

beforeAll(async () => {
  t = await testbed('idem-reseed', 3);
  const s = await startSaleStack(t);
  procs.push(...s.procs);
  firstApi = s.apiBase;
  const other = await startApi({ ...t.b.env, PRODUCT_LOOKUP_CACHE_MS: '200' });
  procs.push(other.api);
  otherApi = other.apiBase;
}, 240_000);

afterAll(() => stopAll(procs, t?.b));

interface Buy { key: string; userId: string; status: number; orderId?: string; code?: string }

async function buy(base: string, productId: string, key: string, userId: string): Promise<Buy> {
  const res = await order(base, { productId, userId, quantity: 1 }, key);
  const body = res.body as { orderId?: string; status?: string } | undefined;
  return { key, userId, status: res.status, orderId: body?.orderId, code: res.status === 200 ? undefined : body?.status };
}

describe('an idempotency key whose order PostgreSQL holds, retried after Redis lost its data', () => {
  it('answers the first orderId after FLUSHALL and the reseed: one orderId per key, no 200 stored rejected', async () => {
    // perUser 2 like the chaos run's sale-2: the rebuilt per-user counter (1) does not refuse the retry.
    const name = 'idem';
    const productId = uniqueName('idem');
    await kubectl(['apply', '-n', t.ns, '-f', '-'], { input: flashSale(name, { productId, stock: 20, limits: { perUser: 2 } }) });
    await waitForSale(t.ns, name, 'Active', (x) => x.status?.phase === 'Active' && condition(x, 'StockSeeded')?.status === 'True');

    const keys = Array.from({ length: 3 }, (_, i) => ({ key: randomUUID(), userId: `idem-u${i}` }));
    const answers: Buy[] = [];
    for (const k of keys) answers.push(await buy(firstApi, productId, k.key, k.userId));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    const first = answers.map((a) => a.orderId!);
    await waitFor('the first orders confirmed in PostgreSQL', async () => {
      const r = await t.b.pool.query<{ n: string }>("SELECT count(*)::text AS n FROM orders WHERE id = ANY($1::uuid[]) AND status = 'confirmed'", [first]);
      return Number(r.rows[0]!.n) === first.length || undefined;
    }, 60_000);

    // Redis loses everything, the idempotency records with it; the operator reseeds from PostgreSQL.
    const before = (await waitForSale(t.ns, name, 'seeded', (x) => condition(x, 'StockSeeded')?.status === 'True')).status?.recovery?.count ?? 0;
    await t.b.redis.flushall();
    await waitForSale(t.ns, name, 'recovered', (x) => (x.status?.recovery?.count ?? 0) > before && x.status?.phase === 'Active', 120_000);

    // The client retries each key, on the other pod, until it gets an answer that is not a 503.
    for (const k of keys) {
      const final = await waitFor(`an answer for ${k.key}`, async () => {
        const a = await buy(otherApi, productId, k.key, k.userId);
        answers.push(a);
        return a.status === 503 ? undefined : a;
      }, 60_000, 200);
      expect(final.status === 200 || final.status === 409, JSON.stringify(final)).toBe(true);
    }

    // Per key: at most one orderId ever answered 200, and it is the first one.
    const okIds = new Map<string, Set<string>>();
    for (const a of answers.filter((x) => x.status === 200)) okIds.set(a.key, (okIds.get(a.key) ?? new Set()).add(a.orderId!));
    for (const [i, k] of keys.entries()) expect([...okIds.get(k.key)!]).toEqual([first[i]]);

    // What PostgreSQL holds once every answered order is in: no orderId answered 200 is rejected.
    const answered = [...new Set(answers.filter((a) => a.status === 200).map((a) => a.orderId!))];
    await waitFor('every 200 stored', async () => {
      const r = await t.b.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM orders WHERE id = ANY($1::uuid[])', [answered]);
      return Number(r.rows[0]!.n) === answered.length || undefined;
    }, 60_000);
    const rejected = await t.b.pool.query<{ id: string; reject_reason: string }>(
      "SELECT id::text, reject_reason FROM orders WHERE id = ANY($1::uuid[]) AND status = 'rejected'", [answered]);
    expect(rejected.rows).toEqual([]);
  }, 300_000);
});
