import { describe, expect, it } from 'vitest';
import { decodeOrder, decodeOrderRecord, encodeOrder, encodeOrders, type OrderMessage } from './order-message.js';

const good: OrderMessage = {
  v: 1,
  orderId: '0b7a4c2e-1d2f-4a5b-8c9d-0e1f2a3b4c5d',
  productId: 'p1',
  userId: 'u1',
  idempotencyKey: 'k1',
  quantity: 1,
  acceptedAt: '2026-11-29T19:00:00.000Z',
  epoch: 3,
};
const decode = (o: Record<string, unknown>) => () => decodeOrder(Buffer.from(JSON.stringify(o)));

describe('decodeOrder refuses what PostgreSQL cannot store', () => {
  it('round-trips what encodeOrder writes', () => {
    expect(decodeOrder(encodeOrder(good))).toEqual(good);
  });
  it.each([
    [{ idempotencyKey: 'a\u0000b' }, /idempotencyKey .* without NUL/],
    [{ idempotencyKey: 'a\ud800b' }, /idempotencyKey/],
    [{ epoch: 1e21 }, /epoch must be an integer in 0\.\./],
    [{ epoch: 2 ** 53 }, /epoch/],
    [{ acceptedAt: '1' }, /acceptedAt/],
    [{ acceptedAt: '2026-02-30T00:00:00.000Z' }, /acceptedAt/],
    [{ acceptedAt: '2026-11-29' }, /acceptedAt/],
  ])('%j', (patch, reason) => {
    expect(decode({ ...good, ...patch })).toThrow(reason);
  });
});

describe('v2 records: the orders of one sale in one record', () => {
  const other = { ...good, orderId: '1b7a4c2e-1d2f-4a5b-8c9d-0e1f2a3b4c5d', userId: 'u2', idempotencyKey: 'k"2\\' };
  it('round-trip, and decodeOrderRecord still reads v1', () => {
    expect(decodeOrderRecord(encodeOrders([good, other]))).toEqual({ orders: [good, other], batched: true, invalid: [] });
    expect(decodeOrderRecord(encodeOrder(good))).toEqual({ orders: [good], batched: false, invalid: [] });
  });
  it('refuses to put two sales in one record', () => {
    expect(() => encodeOrders([good, { ...other, productId: 'p2' }])).toThrow(/orders of p1 and p2 in one record/);
  });
  it('an invalid order inside is listed alone, as a v1 message, and the others are kept', () => {
    const raw = JSON.parse(encodeOrders([good, other]).toString()) as { orders: Array<Record<string, unknown>> };
    raw.orders[0]!.quantity = 0;
    raw.orders.push({ ...raw.orders[1]!, extra: 1 });
    const r = decodeOrderRecord(Buffer.from(JSON.stringify(raw)));
    expect(r.orders).toEqual([other]);
    expect(r.invalid.map((i) => i.reason)).toEqual(['quantity must be an integer in 1..100', 'unknown field extra']);
    expect(JSON.parse(r.invalid[0]!.value.toString())).toMatchObject({ v: 1, productId: 'p1', orderId: good.orderId, quantity: 0 });
  });
  it.each([
    [{ v: 3 }, /unsupported version 3/],
    [{ v: 2, productId: 'p1', orders: [] }, /orders must be a non-empty array/],
    [{ v: 2, productId: 'bad id', orders: [{}] }, /productId must match/],
    [{ v: 2, productId: 'p1', orders: [{}], more: 1 }, /unknown field more/],
  ])('refuses the whole record %j', (o, reason) => {
    expect(() => decodeOrderRecord(Buffer.from(JSON.stringify(o)))).toThrow(reason);
  });
  it('decodeOrder (one order) refuses v2', () => {
    expect(() => decodeOrder(encodeOrders([good]))).toThrow(/unknown field orders/);
  });
});
