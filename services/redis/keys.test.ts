import { describe, expect, it } from 'vitest';
import { orderStatusKey, saleKeys } from './keys.js';

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

  it('tags the accepted-order record with the order id', () => {
    expect(orderStatusKey('0b8f7c2e-1d2a-4c8e-9f1a-2b3c4d5e6f70')).toBe('fg:order:{0b8f7c2e-1d2a-4c8e-9f1a-2b3c4d5e6f70}');
  });
});
