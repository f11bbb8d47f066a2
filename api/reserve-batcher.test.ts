// ReserveBatcher with a scripted Redis: what one turn asks for leaves as one call per sale (at most
// MAX_RESERVE_BATCH orders each), each order gets its own reply, and a failed call fails each order.
import { describe, expect, it } from 'vitest';
import type { FluxRedis } from '../core/redis/client.js';
import { MAX_RESERVE_BATCH, ReserveBatcher } from './reserve-batcher.js';

const settings = { idempotencyTtlSec: 60, orderStatusTtlSec: 60, pendingStaleMs: 1_000 };
const order = (i: number) => ({ orderId: `o${i}`, userId: `u${i}`, idempotencyKey: `k${i}`, quantity: 1 });

function scripted(fail = false) {
  const calls: Array<{ stockKey: string; orderIds: string[] }> = [];
  const redis = {
    fgReserve: async (...args: unknown[]) => {
      const n = (Number(args[0]) - 5) / 3;
      const orderIds = Array.from({ length: n }, (_, i) => String(args[10 + 3 * n + 4 * i]));
      calls.push({ stockKey: String(args[1]), orderIds });
      if (fail) throw new Error('connection lost');
      return orderIds.map((id, i) => ['ok', 100 - i, 1, Number(id.slice(1))]);
    },
  } as unknown as FluxRedis;
  return { calls, batcher: new ReserveBatcher(redis, settings) };
}

describe('ReserveBatcher', () => {
  it('sends the orders of one turn as one call per sale, in order, and answers each its own reply', async () => {
    const { calls, batcher } = scripted();
    const results = await Promise.all([batcher.reserve('a', order(1)), batcher.reserve('b', order(2)), batcher.reserve('a', order(3))]);
    expect(calls).toEqual([
      { stockKey: 'fg:{a}:stock', orderIds: ['o1', 'o3'] },
      { stockKey: 'fg:{b}:stock', orderIds: ['o2'] },
    ]);
    expect(results.map((r) => r.kind === 'ok' && r.acceptedAtMs)).toEqual([1, 2, 3]);
  });

  it(`splits a turn's orders of one sale into calls of at most ${MAX_RESERVE_BATCH}`, async () => {
    const { calls, batcher } = scripted();
    await Promise.all(Array.from({ length: MAX_RESERVE_BATCH + 5 }, (_, i) => batcher.reserve('a', order(i))));
    expect(calls.map((c) => c.orderIds.length)).toEqual([MAX_RESERVE_BATCH, 5]);
  });

  it('a failed call fails every order of it (each is then released by its orderId)', async () => {
    const { batcher } = scripted(true);
    const settled = await Promise.allSettled([batcher.reserve('a', order(1)), batcher.reserve('a', order(2))]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
  });
});
