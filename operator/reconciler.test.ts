import { describe, expect, it } from 'vitest';
import type { FlashSale } from './model/types.js';
import { mergePatchOf, olderSaleOf } from './reconciler.js';

const fs = (ns: string, name: string, productId: string, created: string, deleting = false): FlashSale => ({
  metadata: { namespace: ns, name, uid: `${ns}-${name}`, creationTimestamp: created, ...(deleting ? { deletionTimestamp: 'x' } : {}) },
  spec: { productId, stock: 1 },
});

describe('olderSaleOf: one FlashSale per product', () => {
  const a = fs('shop', 'a', 'p1', '2030-01-01T00:00:00Z');
  const b = fs('shop', 'b', 'p1', '2030-01-01T00:00:01Z');
  const c = fs('shop', 'c', 'p2', '2029-01-01T00:00:00Z');
  it('the oldest owns the product', () => expect(olderSaleOf(a, [a, b, c])).toBeUndefined());
  it('a younger one is told who owns it', () => expect(olderSaleOf(b, [a, b, c])).toBe('shop/a'));
  it('a sale being deleted hands the product over', () => expect(olderSaleOf(b, [fs('shop', 'a', 'p1', '2030-01-01T00:00:00Z', true), b])).toBeUndefined());
  it('a deleting sale whose product lives on in another sale must not delete its keys', () => {
    const dying = fs('shop', 'a', 'p1', '2030-01-01T00:00:00Z', true);
    expect(olderSaleOf(dying, [dying, b])).toBe('shop/b');
  });
  it('ties on creation time break by namespace/name', () => {
    const x = fs('shop', 'x', 'p3', '2030-01-01T00:00:00Z');
    const y = fs('shop', 'y', 'p3', '2030-01-01T00:00:00Z');
    expect(olderSaleOf(y, [x, y])).toBe('shop/x');
  });
});

describe('mergePatchOf: the status patch removes what the new status drops', () => {
  it('a finished recovery drops its barrier (null in the patch), arrays are replaced whole', () => {
    const prev = { phase: 'Recovering', recovery: { count: 1, barrier: { '0': '5' } }, conditions: [{ type: 'Ready' }] };
    const next = { phase: 'Active', recovery: { count: 2 }, conditions: [] };
    expect(mergePatchOf(prev, next)).toEqual({ phase: 'Active', recovery: { count: 2, barrier: null }, conditions: [] });
  });
  it('keys set to undefined are removed too', () => {
    expect(mergePatchOf({ a: 1, b: 2 }, { a: 1, b: undefined })).toEqual({ a: 1, b: null });
  });
});
