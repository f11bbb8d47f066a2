// The order contract against the built API process and the real stack: exact counts for the
// stampede, idempotency, per-user limit, sale window and admission rate; then the worker drains
// the topic into PostgreSQL.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProcess } from '../support/processes.js';
import { countBy, http, initSale, order, redisStock, startApi, startWorkerFor, topicOrders, uniqueName, waitFor, type ApiHarness, type Res } from '../support/api.js';

let h: ApiHarness;
let worker: RunningProcess | undefined;

beforeAll(async () => {
  h = await startApi('orders');
});

afterAll(async () => {
  await worker?.stop('SIGKILL');
  await h?.close();
});

const statuses = (rs: Res[]) => countBy(rs, (r) => r.status);

describe('POST /order', () => {
  it('2,000 concurrent buyers for 100 units: exactly 100 accepted, 1,900 sold out; after the worker drains, 100 confirmed in PostgreSQL', async () => {
    const productId = uniqueName('stampede');
    await initSale(h.base, { productId, quantity: 100 });
    const ordersBefore = await topicOrders(h.topic);

    const results = await Promise.all(
      Array.from({ length: 2000 }, (_, i) => order(h.base, { productId, userId: `buyer-${i}` })),
    );

    expect(statuses(results)).toEqual({ 200: 100, 409: 1900 });
    const accepted = results.filter((r) => r.status === 200).map((r) => r.body);
    expect(new Set(accepted.map((b) => b.orderId)).size).toBe(100);
    expect(new Set(accepted.map((b) => b.remaining))).toEqual(new Set(Array.from({ length: 100 }, (_, i) => i)));
    for (const r of results.filter((r) => r.status === 409)) expect(r.body).toEqual({ status: 'sold_out', message: 'sold out' });
    expect(await redisStock(h.redis, productId)).toBe(0);
    expect(await topicOrders(h.topic), 'orders in Kafka').toBe(ordersBefore + 100);
    const inventory = await http(h.base, 'GET', `/inventory/${productId}`);
    expect(inventory.body).toMatchObject({ productId, remaining: 0, state: 'sold_out', initialStock: 100 });

    const probe = accepted[0]!.orderId as string;
    expect((await http(h.base, 'GET', `/order/${probe}`)).body).toMatchObject({ orderId: probe, status: 'pending', productId, quantity: 1 });

    worker = await startWorkerFor(h);
    const rows = await waitFor('100 orders in PostgreSQL', async () => {
      const { rows } = await h.pool.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM orders WHERE product_id = $1 GROUP BY status',
        [productId],
      );
      const total = rows.reduce((s, r) => s + r.n, 0);
      return total >= 100 ? rows : undefined;
    });
    expect(rows).toEqual([{ status: 'confirmed', n: 100 }]);
    const { rows: product } = await h.pool.query('SELECT stock, initial_stock FROM products WHERE id = $1', [productId]);
    expect(product).toEqual([{ stock: 0, initial_stock: 100 }]);
    expect((await http(h.base, 'GET', `/order/${probe}`)).body).toEqual({ orderId: probe, status: 'confirmed', productId, quantity: 1 });
    expect(await worker.stop('SIGTERM')).toBe(0);
    worker = undefined;
  });

  it('50 concurrent requests with one idempotency key: one order, 49 replays of it', async () => {
    const productId = uniqueName('idem');
    await initSale(h.base, { productId, quantity: 10 });
    const ordersBefore = await topicOrders(h.topic);
    const key = randomUUID();

    const results = await Promise.all(Array.from({ length: 50 }, () => order(h.base, { productId, userId: 'alice' }, key)));

    expect(statuses(results)).toEqual({ 200: 50 });
    const orderIds = new Set(results.map((r) => r.body.orderId));
    expect(orderIds.size).toBe(1);
    expect(results.filter((r) => r.headers['idempotent-replayed'] === 'true')).toHaveLength(49);
    for (const r of results) expect(r.body).toEqual({ status: 'success', orderId: [...orderIds][0], productId, remaining: 9 });
    expect(await redisStock(h.redis, productId)).toBe(9);
    expect(await topicOrders(h.topic), 'orders in Kafka').toBe(ordersBefore + 1);

    // Later repeats (here: answered from this process's memory, then from Redis after the sale sells out) replay too.
    const again = await order(h.base, { productId, userId: 'alice' }, key);
    expect(again.status).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body.orderId).toBe([...orderIds][0]);
  });

  it('per-user limit: the third unit for one user is 403 limit_reached, others still buy', async () => {
    const productId = uniqueName('peruser');
    await initSale(h.base, { productId, quantity: 10, perUserLimit: 2 });
    const a = [
      await order(h.base, { productId, userId: 'bob' }),
      await order(h.base, { productId, userId: 'bob' }),
      await order(h.base, { productId, userId: 'bob' }),
      await order(h.base, { productId, userId: 'bob', quantity: 1 }),
    ];
    expect(a.map((r) => r.status)).toEqual([200, 200, 403, 403]);
    expect(a[2]!.body).toEqual({ status: 'limit_reached', message: 'per-user limit reached for this sale' });
    expect((await order(h.base, { productId, userId: 'carol', quantity: 2 })).status).toBe(200);
    expect((await order(h.base, { productId, userId: 'dave', quantity: 3 })).status).toBe(403);
    expect(await redisStock(h.redis, productId)).toBe(6);
  });

  it('sale window: 425 not_started with Retry-After before startsAt, 410 ended after endsAt', async () => {
    const early = uniqueName('early');
    await initSale(h.base, { productId: early, quantity: 5, startsAt: new Date(Date.now() + 3_600_000).toISOString() });
    const r1 = await order(h.base, { productId: early, userId: 'eve' });
    expect(r1.status).toBe(425);
    expect(r1.body.status).toBe('not_started');
    expect(Number(r1.headers['retry-after'])).toBeGreaterThan(3500);

    const late = uniqueName('late');
    await initSale(h.base, {
      productId: late,
      quantity: 5,
      startsAt: new Date(Date.now() - 7_200_000).toISOString(),
      endsAt: new Date(Date.now() - 3_600_000).toISOString(),
    });
    const r2 = await order(h.base, { productId: late, userId: 'eve' });
    expect(r2.status).toBe(410);
    expect(r2.body.status).toBe('ended');
    expect(await redisStock(h.redis, early)).toBe(5);
    expect(await redisStock(h.redis, late)).toBe(5);
  });

  it('admission rate: over the per-second limit, browsers go to the waiting room (302), API clients get 429 + Retry-After', async () => {
    // The limit counts per Redis-clock second: start at the top of a second so a burst of 20 fits in one.
    for (let attempt = 1; ; attempt++) {
      const productId = uniqueName('rate');
      await initSale(h.base, { productId, quantity: 100, rateLimitPerSecond: 5 });
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 20));
      const second = Math.floor(Date.now() / 1000);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          order(h.base, { productId, userId: `r-${i}` }, `rate-key-${i}`, i % 2 ? { accept: 'text/html,application/xhtml+xml' } : { accept: 'application/json' }),
        ),
      );
      if (Math.floor(Date.now() / 1000) !== second) {
        // The burst straddled two seconds (a loaded machine): the count is then not defined; try again.
        if (attempt < 5) continue;
        throw new Error('5 bursts of 20 requests each took more than one second; the machine is too loaded for this test');
      }
      expect(results.filter((r) => r.status === 200)).toHaveLength(5);
      const limited = results.filter((r) => r.status !== 200);
      expect(limited).toHaveLength(15);
      for (const r of limited) {
        expect(r.headers['retry-after']).toBe('1');
        if (r.status === 302) expect(r.headers.location).toMatch(new RegExp(`^/waiting-room\\?productId=${productId}&userId=r-\\d+&quantity=1&key=rate-key-\\d+&retryAfter=1$`));
        else expect(r).toMatchObject({ status: 429, body: { status: 'rate_limited' } });
      }
      expect(await redisStock(h.redis, productId)).toBe(95);
      const page = await http(h.base, 'GET', '/waiting-room');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.text).toContain("fetch('/order'");
      return;
    }
  });

  it('an unknown sale is 404, a sale PostgreSQL knows but Redis lost is 503 recovering, never sold out', async () => {
    const unknown = await order(h.base, { productId: uniqueName('nosuch'), userId: 'u' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.status).toBe('unknown_sale');

    const productId = uniqueName('lost');
    await initSale(h.base, { productId, quantity: 5 });
    await h.redis.del(`fg:{${productId}}:stock`, `fg:{${productId}}:meta`); // what a Redis restart does
    const r = await order(h.base, { productId, userId: 'u' });
    expect(r.status).toBe(503);
    expect(r.body.status).toBe('recovering');
    expect(r.headers['retry-after']).toBe('2');
  });

  it('/init is admin only', async () => {
    const body = { productId: uniqueName('admin'), quantity: 1 };
    expect((await http(h.base, 'POST', '/init', { body })).status).toBe(401);
    expect((await http(h.base, 'POST', '/init', { body, headers: { authorization: 'Bearer not-the-token-at-all' } })).status).toBe(403);
  });

  it('every POST /order answer is counted once by route, method and status and in the latency histogram: by the handler (200, 409) and by its error handler (400, 415)', async () => {
    const productId = uniqueName('counted');
    await initSale(h.base, { productId, quantity: 1 });
    const counts = async () => {
      const text = (await http(h.metrics, 'GET', '/metrics')).text;
      const line = (prefix: string, ...labels: string[]) =>
        Number(text.split('\n').find((l) => l.startsWith(prefix) && labels.every((x) => l.includes(x)))?.split(' ').pop() ?? 0);
      const answers = (status: number) => line('fluxgate_http_requests_total{', 'route="/order"', 'method="POST"', `status="${status}"`);
      return { 200: answers(200), 409: answers(409), 400: answers(400), 415: answers(415), histogram: line('fluxgate_http_request_duration_seconds_count{', 'route="/order"') };
    };
    const before = await counts();
    expect((await order(h.base, { productId, userId: 'counted-1' })).status).toBe(200);
    expect((await order(h.base, { productId, userId: 'counted-2' })).status).toBe(409);
    expect((await order(h.base, { productId })).status).toBe(400);
    expect((await order(h.base, 'not json', undefined, { 'content-type': 'text/plain' })).status).toBe(415);
    const after = await counts();
    const delta = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k as keyof typeof before]]));
    expect(delta).toEqual({ 200: 1, 409: 1, 400: 1, 415: 1, histogram: 4 });
  });

  it('readiness, metrics (on the metrics listener only), and SIGTERM: stops with exit code 0', async () => {
    expect((await http(h.base, 'GET', '/readyz')).body).toEqual({ status: 'ready', shuttingDown: false });
    expect((await http(h.metrics, 'GET', '/dependencies')).body).toEqual({ status: 'ok', redis: true, kafka: true });
    // Never on the public port (the Service buyers reach).
    expect((await http(h.base, 'GET', '/metrics')).status).toBe(404);
    const metrics = await http(h.metrics, 'GET', '/metrics');
    expect(metrics.text).toMatch(/^fluxgate_kafka_producer_connected\{component="api"\} 1$/m);
    expect(metrics.text).toMatch(/fluxgate_orders_total\{outcome="accepted",component="api"\} \d+/);
    expect(await h.api.stop('SIGTERM')).toBe(0);
    expect(h.api.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  });
});
