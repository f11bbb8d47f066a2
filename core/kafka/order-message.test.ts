import { describe, expect, it } from 'vitest';
import { decodeOrder, encodeOrder, type OrderMessage } from './order-message.js';

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
