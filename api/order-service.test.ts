// The in-process logic of the order path with a scripted Redis and producer (the scripts
// themselves run against a real Redis in e2e/api/redis-scripts.test.ts).
import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { pino } from 'pino';
import { ProduceError } from '../core/kafka/producer.js';
import type { FluxRedis } from '../core/redis/client.js';
import { readReserveCall } from '../core/redis/reserve.js';
import { createApiMetrics } from './metrics.js';
import { OrderService, type OrderServiceDeps } from './order-service.js';

function setup(opts: {
  reserve: (args: unknown[]) => unknown[];
  send?: () => Promise<void>;
  known?: (id: string) => Promise<boolean>;
  get?: () => string | null;
  /** The idempotency keys Redis holds a record of (the lookups under a sale's sold-out flag). */
  keysInUse?: string[];
  /** The lookups under the sold-out flag fail (connection lost). */
  lookupFails?: boolean;
}) {
  const calls = { reserve: 0, release: [] as string[], confirm: [] as string[], confirmCalls: [] as string[][], send: [] as string[], lookups: [] as string[][] };
  const redis = {
    // A call of reserve.lua (reserve.ts reserveMany): its confirmations are recorded as confirm.lua
    // 'd' calls; each order is handed to opts.reserve as a single call's 8 keys and 8 arguments
    // (stock, meta, epoch, idem, user, rate, order, tokens; orderId, userId, quantity, productId,
    // TTLs, pending-stale ms, token flag).
    fgReserve: async (...args: unknown[]) => {
      const { saleKeys: [stock, meta, epoch, rate, tokens], call, confirms, orders } = readReserveCall(args);
      if (confirms.length > 0) {
        calls.confirmCalls.push(confirms.map((c) => c.key));
        for (const _ of confirms) calls.confirm.push('d');
      }
      const replies = [];
      for (const { keys: [idem, user, order], args: [orderId, userId, quantity, token] } of orders) {
        calls.reserve++;
        replies.push(opts.reserve([stock, meta, epoch, idem, user, rate, order, tokens, orderId, userId, quantity, ...call, token]));
      }
      await new Promise((r) => setImmediate(r));
      return [confirms.length, replies];
    },
    fgRelease: async (...args: unknown[]) => {
      calls.release.push(String(args[7]));
      return ['released'];
    },
    // numkeys, the keys, the state, then the orderIds (confirm.lua).
    fgConfirm: async (...args: unknown[]) => {
      const n = Number(args[0]);
      for (let i = 0; i < n; i++) calls.confirm.push(String(args[n + 1]));
      calls.confirmCalls.push(args.slice(1, n + 1).map(String));
      return n;
    },
    get: async () => (opts.get ? opts.get() : null),
    mget: async (keys: string[]) => {
      if (opts.lookupFails) throw new Error('connection lost');
      calls.lookups.push(keys);
      return keys.map((k) => (opts.keysInUse?.some((used) => k.endsWith(`:idem:${used}`)) ? 'a record' : null));
    },
  } as unknown as FluxRedis;
  const registry = new Registry();
  const deps: OrderServiceDeps = {
    redis,
    producer: {
      send: async (order) => {
        calls.send.push(order.orderId);
        await (opts.send ?? (async () => undefined))();
      },
    },
    isProductKnown: opts.known ?? (async () => true),
    metrics: createApiMetrics(registry),
    logger: pino({ level: 'silent' }),
    settings: { soldOutCacheMs: 60_000, idempotencyTtlSec: 60, orderStatusTtlSec: 60, pendingStaleMs: 60_000, idempotencyWaitMs: 100 },
  };
  return { service: new OrderService(deps), calls, registry };
}

const req = (p: Partial<{ productId: string; userId: string; quantity: number; idempotencyKey: string }> = {}) => ({
  productId: 'p',
  userId: 'u',
  quantity: 1,
  idempotencyKey: 'k',
  ...p,
});

describe('OrderService', () => {
  it('answers sold out without the reserve script after Redis said so once, asking only whether the keys are in use (one MGET per turn)', async () => {
    const { service, calls, registry } = setup({ reserve: () => ['sold_out', 0] });
    expect(await service.place(req())).toEqual({ ok: false, code: 'sold_out' });
    const rest = await Promise.all(Array.from({ length: 100 }, (_, i) => service.place(req({ idempotencyKey: `k${i}` }))));
    expect(rest.every((r) => !r.ok && r.code === 'sold_out')).toBe(true);
    expect(calls.reserve).toBe(1);
    expect(calls.lookups.map((l) => l.length)).toEqual([100]);
    expect(await registry.getSingleMetricAsString('fluxgate_orders_total')).toContain('fluxgate_orders_total{outcome="sold_out_cached"} 100');
    service.forgetSale('p');
    await service.place(req({ idempotencyKey: 'after-reseed' }));
    expect(calls.reserve).toBe(2);
  });

  it('under the sold-out flag, sends a key Redis holds a record of to the reserve script (a retry gets its order, not "sold out")', async () => {
    let replies = 0;
    const { service, calls } = setup({
      keysInUse: ['retry'],
      reserve: () => (replies++ === 0 ? ['sold_out', 0] : ['replay', `d|order-1|0|1|1|0|${Date.now()}`]),
    });
    expect(await service.place(req({ idempotencyKey: 'new' }))).toEqual({ ok: false, code: 'sold_out' });
    const [fresh, retry] = await Promise.all([service.place(req({ idempotencyKey: 'fresh' })), service.place(req({ idempotencyKey: 'retry' }))]);
    expect(fresh).toEqual({ ok: false, code: 'sold_out' });
    expect(retry).toMatchObject({ ok: true, replayed: true, body: { orderId: 'order-1' } });
    expect(calls.reserve).toBe(2);
  });

  it('under the sold-out flag, answers 503 (not "sold out") when the key cannot be looked up', async () => {
    const { service } = setup({ lookupFails: true, reserve: () => ['sold_out', 0] });
    await service.place(req({ idempotencyKey: 'new' }));
    expect(await service.place(req({ idempotencyKey: 'maybe-a-retry' }))).toMatchObject({ ok: false, code: 'unavailable' });
  });

  it('does not cache "only 2 left" as sold out', async () => {
    const { service, calls } = setup({ reserve: () => ['sold_out', 2] });
    expect(await service.place(req({ quantity: 3 }))).toMatchObject({ ok: false, code: 'sold_out', message: 'only 2 left, 3 requested' });
    await service.place(req({ quantity: 3, idempotencyKey: 'k2' }));
    expect(calls.reserve).toBe(2);
  });

  it('places concurrent duplicates of a key once and replays the answer to the others', async () => {
    const { service, calls } = setup({ reserve: () => ['ok', 9, 1, Date.now()] });
    const results = await Promise.all(Array.from({ length: 10 }, () => service.place(req())));
    expect(calls.reserve).toBe(1);
    expect(calls.send).toHaveLength(1);
    expect(new Set(results.map((r) => (r.ok ? r.body.orderId : 'x'))).size).toBe(1);
    expect(results.filter((r) => r.ok && r.replayed)).toHaveLength(9);
    // and a later repeat is answered from memory too
    expect(await service.place(req())).toMatchObject({ ok: true, replayed: true });
    expect(calls.reserve).toBe(1);
  });

  it('releases the reservation of an order Kafka certainly did not take, and answers 503', async () => {
    let orderId = '';
    const { service, calls } = setup({
      reserve: (args) => {
        orderId = String(args[8]);
        return ['ok', 4, 2, Date.now()];
      },
      send: async () => {
        throw new ProduceError('broker down', 'not_written');
      },
    });
    const r = await service.place(req());
    expect(r).toMatchObject({ ok: false, code: 'unavailable', message: expect.stringContaining('Kafka unavailable: broker down') });
    expect(calls.release).toEqual([orderId]);
    expect(calls.confirm).toEqual([]);
  });

  it('keeps the stock and the key of an order Kafka may have taken: 503 naming it, marked unknown', async () => {
    let orderId = '';
    for (const thrown of [new ProduceError('Request timed out', 'maybe_written'), new Error('not a ProduceError')]) {
      const { service, calls } = setup({
        reserve: (args) => {
          orderId = String(args[8]);
          return ['ok', 4, 2, Date.now()];
        },
        send: async () => {
          throw thrown;
        },
      });
      const r = await service.place(req());
      expect(r).toMatchObject({ ok: false, code: 'unavailable', orderId });
      expect(calls.release).toEqual([]);
      expect(calls.confirm).toEqual(['u']);
    }
  });

  it('a key in limbo (unknown outcome) is produced again under its first orderId, never released', async () => {
    const first = '0b8f7c2e-1d2a-4c8e-9f1a-2b3c4d5e6f70';
    const unknown = `u|${first}|3|1|1|0|${Date.now()}|u`;
    const ok = setup({ reserve: () => ['adopt', unknown] });
    expect(await ok.service.place(req())).toEqual({
      ok: true,
      replayed: false,
      body: { status: 'success', orderId: first, productId: 'p', remaining: 3 },
    });
    expect(ok.calls.send).toEqual([first]);
    await new Promise((r) => setImmediate(r)); // confirms go out once per turn of the event loop
    expect(ok.calls.confirm).toEqual(['d']);
    const failing = setup({
      reserve: () => ['adopt', unknown],
      send: async () => {
        throw new ProduceError('broker down', 'not_written');
      },
    });
    expect(await failing.service.place(req())).toMatchObject({ ok: false, code: 'unavailable', orderId: first });
    expect(failing.calls.release).toEqual([]);
  });

  it('confirms the orders of one produce batch with one Redis call per sale', async () => {
    const { service, calls } = setup({ reserve: () => ['ok', 9, 1, Date.now()] });
    const placed = await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => service.place(req({ idempotencyKey: `a${i}` }))),
      ...Array.from({ length: 3 }, (_, i) => service.place(req({ productId: 'q', idempotencyKey: `b${i}` }))),
    ]);
    expect(placed.every((r) => r.ok)).toBe(true);
    await new Promise((r) => setImmediate(r));
    expect(calls.confirmCalls).toEqual([
      ['a0', 'a1', 'a2', 'a3', 'a4'].map((k) => `fg:{p}:idem:${k}`),
      ['b0', 'b1', 'b2'].map((k) => `fg:{q}:idem:${k}`),
    ]);
    expect(calls.confirm).toEqual(Array(8).fill('d'));
  });

  it('a key reused with another user or quantity is refused, also when answered from memory', async () => {
    const { service, calls } = setup({ reserve: () => ['ok', 9, 1, Date.now()] });
    const [first, bob, more] = await Promise.all([service.place(req()), service.place(req({ userId: 'bob' })), service.place(req({ quantity: 2 }))]);
    expect(first).toMatchObject({ ok: true });
    expect(bob).toEqual({ ok: false, code: 'idempotency_key_reused' });
    expect(more).toEqual({ ok: false, code: 'idempotency_key_reused' });
    expect(await service.place(req({ userId: 'bob' }))).toEqual({ ok: false, code: 'idempotency_key_reused' });
    expect(calls.reserve).toBe(1);
    const redis = setup({ reserve: () => ['key_reused'] });
    expect(await redis.service.place(req())).toEqual({ ok: false, code: 'idempotency_key_reused' });
  });

  it('a sale missing in Redis is recovering when PostgreSQL knows it, unknown otherwise', async () => {
    const { service } = setup({ reserve: () => ['not_seeded'], known: async (id) => id === 'known' });
    expect(await service.place(req({ productId: 'known' }))).toEqual({ ok: false, code: 'recovering' });
    expect(await service.place(req({ productId: 'other' }))).toEqual({ ok: false, code: 'unknown_sale' });
    const failing = setup({ reserve: () => ['not_seeded'], known: async () => Promise.reject(new Error('pg down')) });
    expect(await failing.service.place(req())).toMatchObject({ ok: false, code: 'unavailable' });
  });

  it('a repeated key whose first order is pending in another process waits on its record', async () => {
    const pending = `p|0b8f7c2e-1d2a-4c8e-9f1a-2b3c4d5e6f70|3|1|1|0|${Date.now()}`;
    const stillPending = setup({ reserve: () => ['replay', pending], get: () => pending });
    expect(await stillPending.service.place(req())).toEqual({ ok: false, code: 'in_progress' });
    let reads = 0;
    const done = setup({ reserve: () => ['replay', pending], get: () => (++reads < 3 ? pending : `d${pending.slice(1)}`) });
    expect(await done.service.place(req())).toEqual({
      ok: true,
      replayed: true,
      body: { status: 'success', orderId: '0b8f7c2e-1d2a-4c8e-9f1a-2b3c4d5e6f70', productId: 'p', remaining: 3 },
    });
    const failed = setup({ reserve: () => ['replay', pending], get: () => null });
    expect(await failed.service.place(req())).toMatchObject({ ok: false, code: 'unavailable', message: expect.stringContaining('failed; retry') });
  });
});
