import { describe, expect, it } from 'vitest';
import type { OrderMessage } from '../core/kafka/order-message.js';
import { allocate, idempotencyKeyOf, userUnitsKeyOf } from './allocate.js';

let n = 0;
function order(p: Partial<OrderMessage> = {}): OrderMessage {
  n++;
  return {
    v: 1,
    orderId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    productId: 'phone',
    userId: `u${n}`,
    idempotencyKey: `k${n}`,
    quantity: 1,
    acceptedAt: '2026-11-29T08:00:00.000Z',
    epoch: 1,
    ...p,
  };
}
const state = (stock: Record<string, number>, stored: string[] = [], holders: Array<[string, string, string]> = []) => ({
  stock: new Map(Object.entries(stock)),
  storedOrderIds: new Set(stored),
  keyHolders: new Map(holders.map(([p, k, id]) => [idempotencyKeyOf(p, k), id])),
});
const fates = (a: ReturnType<typeof allocate>) =>
  a.decisions.map((d) => (d.status === 'confirmed' ? 'confirmed' : d.reason));

describe('allocate', () => {
  it('holds each user to the per-user limit in units, counting what PostgreSQL already holds', () => {
    const orders = [
      order({ userId: 'ann', quantity: 1 }),
      order({ userId: 'ann', quantity: 2 }), // 1 held + 1 + 2 > 3
      order({ userId: 'ann', quantity: 1 }),
      order({ userId: 'bob', quantity: 3 }),
      order({ userId: 'cid', quantity: 1, productId: 'free' }), // no limit on that product
    ];
    const a = allocate(orders, {
      ...state({ phone: 100, free: 100 }),
      perUserLimit: new Map([['phone', 3]]),
      userUnits: new Map([[userUnitsKeyOf('phone', 'ann'), 1], [userUnitsKeyOf('phone', 'bob'), 1]]),
    });
    expect(fates(a)).toEqual(['confirmed', 'over_user_limit', 'confirmed', 'over_user_limit', 'confirmed']);
    expect(a.taken).toEqual(new Map([['phone', 2], ['free', 1]]));
  });

  it('confirms while stock lasts, in offset order, then rejects out_of_stock', () => {
    const orders = Array.from({ length: 5 }, () => order());
    const a = allocate(orders, state({ phone: 3 }));
    expect(fates(a)).toEqual(['confirmed', 'confirmed', 'confirmed', 'out_of_stock', 'out_of_stock']);
    expect(a.taken).toEqual(new Map([['phone', 3]]));
    expect(a.redelivered).toBe(0);
  });

  it('is greedy like the Redis gate: a smaller later order still fits after a big one did not', () => {
    const a = allocate([order({ quantity: 2 }), order({ quantity: 3 }), order({ quantity: 1 })], state({ phone: 3 }));
    expect(fates(a)).toEqual(['confirmed', 'out_of_stock', 'confirmed']);
    expect(a.taken.get('phone')).toBe(3);
  });

  it('keeps stock per product', () => {
    const a = allocate(
      [order({ productId: 'a' }), order({ productId: 'b' }), order({ productId: 'a' }), order({ productId: 'b' })],
      state({ a: 1, b: 2 }),
    );
    expect(fates(a)).toEqual(['confirmed', 'confirmed', 'out_of_stock', 'confirmed']);
    expect(a.taken).toEqual(new Map([['a', 1], ['b', 2]]));
  });

  it('skips orders already stored and repeats of an id within the batch', () => {
    const stored = order();
    const fresh = order();
    const a = allocate([stored, fresh, fresh], state({ phone: 10 }, [stored.orderId]));
    expect(a.redelivered).toBe(2);
    expect(a.decisions.map((d) => d.order.orderId)).toEqual([fresh.orderId]);
    expect(a.taken.get('phone')).toBe(1);
  });

  it('a second order with a stored idempotency key is a duplicate of the stored holder', () => {
    const dup = order({ idempotencyKey: 'same' });
    const a = allocate([dup], state({ phone: 10 }, [], [['phone', 'same', 'first-id']]));
    expect(a.decisions).toEqual([{ order: dup, status: 'rejected', reason: 'duplicate', duplicateOf: 'first-id' }]);
    expect(a.taken.size).toBe(0);
  });

  it('within one batch the first order of a key keeps it, even when it was rejected out of stock', () => {
    const first = order({ idempotencyKey: 'k', quantity: 5 });
    const second = order({ idempotencyKey: 'k', quantity: 1 });
    const a = allocate([first, second], state({ phone: 2 }));
    expect(fates(a)).toEqual(['out_of_stock', 'duplicate']);
    expect(a.decisions[1]).toMatchObject({ duplicateOf: first.orderId });
  });

  it('the same idempotency key on two products is two different keys', () => {
    const a = allocate([order({ productId: 'a', idempotencyKey: 'k' }), order({ productId: 'b', idempotencyKey: 'k' })], state({ a: 1, b: 1 }));
    expect(fates(a)).toEqual(['confirmed', 'confirmed']);
  });

  it('rejects orders for products PostgreSQL does not know', () => {
    const a = allocate([order({ productId: 'ghost' })], state({ phone: 1 }));
    expect(fates(a)).toEqual(['unknown_product']);
    expect(a.taken.size).toBe(0);
  });

  it('with zero stock everything is rejected and nothing is taken', () => {
    const a = allocate([order(), order()], state({ phone: 0 }));
    expect(fates(a)).toEqual(['out_of_stock', 'out_of_stock']);
    expect(a.taken.size).toBe(0);
  });
});
