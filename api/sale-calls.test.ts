// SaleCalls with a scripted Redis: what one turn asks of a sale leaves as one reserve.lua call per
// sale (at most MAX_RESERVE_BATCH orders each, the confirmations riding on the first), each order
// gets its own reply, and a failed call fails each order and reports its confirmations.
import { describe, expect, it } from 'vitest';
import type { FluxRedis } from '../core/redis/client.js';
import { readReserveCall } from '../core/redis/reserve.js';
import { MAX_RESERVE_BATCH, SaleCalls } from './sale-calls.js';

const settings = { idempotencyTtlSec: 60, orderStatusTtlSec: 60, pendingStaleMs: 1_000 };
const order = (i: number) => ({ orderId: `o${i}`, userId: `u${i}`, idempotencyKey: `k${i}`, quantity: 1 });

function scripted(fail = false) {
  const calls: Array<{ stockKey: string; confirmed: string[]; orderIds: string[] }> = [];
  const errors: Error[] = [];
  const redis = {
    fgReserve: async (...args: unknown[]) => {
      const { saleKeys, confirms, orders } = readReserveCall(args);
      const orderIds = orders.map((o) => String(o.args[0]));
      calls.push({ stockKey: saleKeys[0]!, confirmed: confirms.map((c) => c.orderId), orderIds });
      if (fail) throw new Error('connection lost');
      return [confirms.length, orderIds.map((id, i) => ['ok', 100 - i, 1, Number(id.slice(1))])];
    },
  } as unknown as FluxRedis;
  return { calls, errors, sales: new SaleCalls(redis, settings, { confirmError: (e) => errors.push(e), call: () => undefined }) };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('SaleCalls', () => {
  it('sends what one turn asks of each sale as one call, in order, and answers each order its own reply', async () => {
    const { calls, sales } = scripted();
    sales.confirm('a', 'k0', 'o0');
    const results = await Promise.all([sales.reserve('a', order(1)), sales.reserve('b', order(2)), sales.reserve('a', order(3))]);
    expect(calls).toEqual([
      { stockKey: 'fg:{a}:stock', confirmed: ['o0'], orderIds: ['o1', 'o3'] },
      { stockKey: 'fg:{b}:stock', confirmed: [], orderIds: ['o2'] },
    ]);
    expect(results.map((r) => r.kind === 'ok' && r.acceptedAtMs)).toEqual([1, 2, 3]);
  });

  it('confirmations with no order in the turn go alone', async () => {
    const { calls, sales } = scripted();
    sales.confirm('a', 'k0', 'o0');
    sales.confirm('a', 'k1', 'o1');
    await turn();
    expect(calls).toEqual([{ stockKey: 'fg:{a}:stock', confirmed: ['o0', 'o1'], orderIds: [] }]);
  });

  it(`splits a turn's orders of one sale into calls of at most ${MAX_RESERVE_BATCH}, the confirmations on the first`, async () => {
    const { calls, sales } = scripted();
    sales.confirm('a', 'k0', 'o0');
    await Promise.all(Array.from({ length: MAX_RESERVE_BATCH + 5 }, (_, i) => sales.reserve('a', order(i + 1))));
    expect(calls.map((c) => [c.confirmed.length, c.orderIds.length])).toEqual([[1, MAX_RESERVE_BATCH], [0, 5]]);
  });

  it('a failed call fails every order of it (each is then released by its orderId) and reports its confirmations', async () => {
    const { sales, errors } = scripted(true);
    sales.confirm('a', 'k0', 'o0');
    const settled = await Promise.allSettled([sales.reserve('a', order(1)), sales.reserve('a', order(2))]);
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected']);
    expect(errors).toHaveLength(1);
  });
});
