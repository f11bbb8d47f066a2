import { describe, expect, it } from 'vitest';
import { decodeOrder, decodeOrderRecord, encodeOrder, encodeOrders, isCanonicalTime, type OrderMessage } from './order-message.js';

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

describe('isCanonicalTime: exactly what toISOString() writes', () => {
  // The Date round trip the character check replaced: the reference it must agree with.
  const reference = (t: string) => {
    const ms = Date.parse(t);
    return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(t) && !Number.isNaN(ms) && new Date(ms).toISOString() === t;
  };
  it('agrees with the Date round trip on valid times and every field pushed out of range', () => {
    const samples: string[] = [];
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    for (const year of [0, 1, 4, 100, 400, 1900, 1970, 2000, 2024, 2026, 2100, 9999])
      for (let month = 0; month <= 13; month++)
        for (const day of [0, 1, 28, 29, 30, 31, 32])
          for (const [h, m, sec] of [[0, 0, 0], [23, 59, 59], [24, 0, 0], [12, 60, 0], [12, 0, 60], [99, 99, 99]])
            samples.push(`${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(h!, 2)}:${pad(m!, 2)}:${pad(sec!, 2)}.${pad(day * 31, 3)}Z`);
    const valid = new Date(Date.UTC(2026, 10, 29, 19, 0, 0, 123)).toISOString();
    samples.push(valid, `${valid} `, valid.replace('Z', '+'), valid.replace('T', 't'), valid.replace('.', ','), valid.slice(0, 23),
      valid.replace('2026', '2O26'), valid.replace('19', '1/'), valid.replace('19', '1:'), `+0${valid}`, '', '2026-11-29T19:00:00Z');
    for (const t of samples) expect([t, isCanonicalTime(t)]).toEqual([t, reference(t)]);
    expect(samples.filter(isCanonicalTime).length).toBeGreaterThan(1000);
  });
});
