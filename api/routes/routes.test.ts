import { describe, expect, it } from 'vitest';
import Fastify, { type FastifyRequest } from 'fastify';
import { DIRECT, type SaleState } from '../../core/redis/sale.js';
import { checkAdmin } from './admin.js';
import { saleStateLabel } from './inventory.js';
import { waitingRoomUrl } from './order.js';
import { waitingJson } from './queue.js';
import { pollResponseSchema } from '../schemas.js';

const sale = (s: Partial<SaleState>): SaleState => ({
  productId: 'p',
  seeded: true,
  stock: 5,
  state: 'open',
  epoch: 1,
  initialStock: 5,
  rateLimitPerSecond: null,
  perUserLimit: null,
  startsAt: null,
  endsAt: null,
  seededAt: null,
  admission: DIRECT,
  ...s,
});

describe('saleStateLabel', () => {
  const now = Date.parse('2026-01-01T12:00:00Z');
  it.each([
    [sale({}), 'open'],
    [sale({ stock: 0 }), 'sold_out'],
    [sale({ state: 'recovering' }), 'recovering'],
    [sale({ state: 'paused', stock: 0 }), 'paused'],
    [sale({ startsAt: new Date(now + 1) }), 'not_started'],
    [sale({ endsAt: new Date(now) }), 'ended'],
  ])('%j → %s', (s, label) => {
    expect(saleStateLabel(s, now)).toBe(label);
  });
});

describe('waitingRoomUrl', () => {
  it('carries the order and its idempotency key, URL-encoded', () => {
    expect(waitingRoomUrl({ productId: 'p:1', userId: 'u', quantity: 2, idempotencyKey: 'a b&c', retryAfterSec: 1 })).toBe(
      '/waiting-room?productId=p%3A1&userId=u&quantity=2&key=a+b%26c&retryAfter=1',
    );
  });
});

describe('checkAdmin', () => {
  const req = (authorization?: string) => ({ headers: { authorization } }) as unknown as FastifyRequest;
  const token = '0123456789abcdef-token';
  it.each([
    [undefined, req(`Bearer ${token}`), 'admin_disabled'],
    [token, req(), 'unauthorized'],
    [token, req(`Basic ${token}`), 'unauthorized'],
    [token, req('Bearer wrong'), 'forbidden'],
    [token, req(`Bearer ${token}x`), 'forbidden'],
  ])('token %s, %j → %s', (configured, request, code) => {
    expect(() => checkAdmin(configured, request)).toThrow(expect.objectContaining({ code }));
  });
  it('lets the right token through', () => {
    expect(() => checkAdmin(token, req(`Bearer ${token}`))).not.toThrow();
  });
});

describe('waitingJson', () => {
  it.each([
    ['p', 1, 0.5, 1000],
    ['sale-2:a.b_c', null, 86_400, 10_000],
    ['p', 123_456, 12_345.6, 6173],
    ['p', 0, 0, 1000],
  ])('is byte for byte what the response schema serializes: %s %s %s %s', async (productId, position, estimatedWaitSeconds, pollAfterMs) => {
    const app = Fastify();
    app.get('/', { schema: { response: { 200: pollResponseSchema } } }, async () => ({ state: 'waiting', productId, position, estimatedWaitSeconds, pollAfterMs }));
    const res = await app.inject({ method: 'GET', url: '/' });
    await app.close();
    expect(waitingJson(productId as string, position as number | null, estimatedWaitSeconds as number, pollAfterMs as number)).toBe(res.body);
  });
});
