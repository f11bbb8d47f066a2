import { describe, expect, it } from 'vitest';
import type { OrderMessage } from '../core/kafka/order-message.js';
import { ordersCopyData } from '../core/postgres/orders.js';
import { allocate, BatchShape, confirmsAll, idempotencyKeyOf, userUnitsKeyOf, type LockedState } from './allocate.js';
import { prepareBatch, toRow } from './prepare-batch.js';

/** A small deterministic generator (mulberry32): the same cases on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const id = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

function order(i: number, p: Partial<OrderMessage> = {}): OrderMessage {
  return { v: 1, orderId: id(i), productId: 'a', userId: `u${i}`, idempotencyKey: `k${i}`, quantity: 1, acceptedAt: '2026-11-30T08:00:00.000Z', epoch: 1, ...p };
}

/** Small domains, so that repeats, shortages and limits come up often. */
function randomCase(rnd: () => number): { orders: OrderMessage[]; state: LockedState } {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  const orders = Array.from({ length: 1 + Math.floor(rnd() * 8) }, () =>
    order(0, {
      orderId: id(1 + Math.floor(rnd() * 12)),
      productId: pick(['a', 'b']),
      userId: pick(['u1', 'u2', 'u3']),
      idempotencyKey: pick(['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9', 'k10']),
      quantity: 1 + Math.floor(rnd() * 3),
    }),
  );
  const stock = new Map<string, number>();
  for (const p of ['a', 'b']) if (rnd() < 0.9) stock.set(p, Math.floor(rnd() * 16));
  const limits = new Map<string, number>();
  for (const p of ['a', 'b']) if (rnd() < 0.4) limits.set(p, 1 + Math.floor(rnd() * 6));
  const userUnits = new Map<string, number>();
  for (const p of ['a', 'b']) for (const u of ['u1', 'u2', 'u3']) if (rnd() < 0.3) userUnits.set(userUnitsKeyOf(p, u), Math.floor(rnd() * 3));
  return {
    orders,
    state: {
      stock,
      storedOrderIds: new Set(rnd() < 0.1 ? [orders[0]!.orderId] : []),
      keyHolders: new Map(rnd() < 0.1 ? [[idempotencyKeyOf(orders[0]!.productId, orders[0]!.idempotencyKey), id(99)]] : []),
      perUserLimit: limits,
      userUnits,
    },
  };
}

describe('confirmsAll', () => {
  it('is true exactly when allocate() confirms every order and skips none, over 20,000 generated batches', () => {
    const rnd = random(11);
    let both = 0;
    for (let i = 0; i < 20_000; i++) {
      const { orders, state } = randomCase(rnd);
      const shape = BatchShape.of(orders);
      const a = allocate(orders, state);
      const allConfirmed = a.redelivered === 0 && a.decisions.length === orders.length && a.decisions.every((d) => d.status === 'confirmed');
      expect(confirmsAll(orders, shape, state), JSON.stringify({ orders, state: { ...state, stock: [...state.stock], perUserLimit: [...state.perUserLimit!], userUnits: [...state.userUnits!] } })).toBe(allConfirmed);
      if (allConfirmed) {
        both++;
        expect(a.taken).toEqual(shape.units);
      }
    }
    // Both outcomes came up often enough for the comparison to mean something.
    expect(both).toBeGreaterThan(2_000);
    expect(both).toBeLessThan(18_000);
  });

  it('is false for a repeated idempotency key, a repeated order id, a stock one unit short, a user one unit over', () => {
    const plain = (orders: OrderMessage[], s: Partial<LockedState> = {}) =>
      confirmsAll(orders, BatchShape.of(orders), { stock: new Map([['a', 10]]), storedOrderIds: new Set(), keyHolders: new Map(), ...s });
    expect(plain([order(1), order(2)])).toBe(true);
    expect(plain([order(1), order(2, { idempotencyKey: 'k1' })])).toBe(false);
    expect(plain([order(1), order(1, { idempotencyKey: 'other' })])).toBe(false);
    expect(plain([order(1, { quantity: 6 }), order(2, { quantity: 5 })])).toBe(false);
    expect(plain([order(1, { userId: 'ann' }), order(2, { userId: 'ann' })], { perUserLimit: new Map([['a', 2]]), userUnits: new Map([[userUnitsKeyOf('a', 'ann'), 1]]) })).toBe(false);
    expect(plain([order(1, { userId: 'ann' }), order(2, { userId: 'ann' })], { perUserLimit: new Map([['a', 2]]) })).toBe(true);
    expect(plain([order(1, { productId: 'ghost' })])).toBe(false);
  });
});

describe('prepareBatch', () => {
  it("prepares the decisions and the COPY bytes allocate() and the transaction's own encoding give when every order is confirmed", async () => {
    const orders = Array.from({ length: 1_000 }, (_, i) => order(i + 1, { userId: `u\t${i}`, productId: i % 2 ? 'a' : 'b' })); // a tab to escape
    const prepared = await prepareBatch(orders);
    const a = allocate(orders, { stock: new Map([['a', 500], ['b', 500]]), storedOrderIds: new Set(), keyHolders: new Map() });
    expect(prepared.orders).toBe(orders);
    expect(prepared.confirmed).toEqual(a.decisions);
    expect(prepared.shape.units).toEqual(a.taken);
    const own = ordersCopyData(a.decisions.map(toRow));
    expect(prepared.copy.rows).toBe(own.rows);
    expect(prepared.copy.data.equals(own.data)).toBe(true);
  });
});
