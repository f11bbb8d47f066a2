import { describe, expect, it } from 'vitest';
import { newOrderId, orderStatusKey, saleKeys } from './keys.js';
import { keySlot } from './slots.js';

describe('saleKeys', () => {
  it('puts every key of a sale under the product hash tag', () => {
    const k = saleKeys('phone-1');
    expect([k.stock, k.meta, k.epoch, k.rate, k.idem('abc'), k.user('u:1')]).toEqual([
      'fg:{phone-1}:stock',
      'fg:{phone-1}:meta',
      'fg:{phone-1}:epoch',
      'fg:{phone-1}:rate',
      'fg:{phone-1}:idem:abc',
      'fg:{phone-1}:user:u:1',
    ]);
    expect(k.pattern).toBe('fg:{phone-1}:*');
  });

  it('keeps the product tag first even when an idempotency key contains braces', () => {
    // Redis hashes the first {...} only, so a client-chosen key cannot move the record to another slot.
    expect(saleKeys('p').idem('{evil}')).toBe('fg:{p}:idem:{evil}');
  });

  it('tags the accepted-order record with the first five digits of the order id', () => {
    expect(orderStatusKey('0b8f7c2e-1d2a-4c8e-9f1a-2b3c4d5e6f70')).toBe('fg:order:{0b8f7}:0b8f7c2e-1d2a-4c8e-9f1a-2b3c4d5e6f70');
  });
});

describe('newOrderId', () => {
  const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

  it.each(['phone-1', 'p', 'sale:2026/black-friday', 'A.b_c-9'])('is a v8 UUID whose order record shares the slot of sale %s', (productId) => {
    const saleSlot = keySlot(saleKeys(productId).stock);
    for (let i = 0; i < 50; i++) {
      const id = newOrderId(productId);
      expect(id).toMatch(UUID_V8);
      expect(keySlot(orderStatusKey(id))).toBe(saleSlot);
    }
  });

  it('keeps the rest of the id random', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newOrderId('phone-1', 1_700_000_000_000)));
    expect(ids.size).toBe(1000);
    expect(new Set([...ids].map((id) => id.slice(0, 5))).size).toBe(1);
    // Same millisecond: the 74 random bits after the version digit differ.
    expect(new Set([...ids].map((id) => id.slice(15))).size).toBe(1000);
  });

  it('grows with the clock within a sale, so the primary key takes new orders at its right edge', () => {
    const t0 = 6_000 * 2 ** 28; // the start of a clock period
    const ids = [0, 1, 2, 1_000, 60_000, 3_600_000].map((dt) => newOrderId('phone-1', t0 + dt));
    expect([...ids].sort()).toEqual(ids);
  });

  it('wraps its 28-bit millisecond clock (every ~74.6 hours), still a valid id', () => {
    const period = 2 ** 28;
    const before = newOrderId('p', 5 * period - 1);
    const after = newOrderId('p', 5 * period);
    expect(before.slice(5, 8) + before.slice(9, 13)).toBe('fffffff');
    expect(after.slice(5, 8) + after.slice(9, 13)).toBe('0000000');
    expect(after).toMatch(UUID_V8);
  });
});
