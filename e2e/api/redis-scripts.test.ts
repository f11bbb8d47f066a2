// The Lua scripts against a real Redis: reservation, confirmation, compensation fenced by orderId
// and epoch, gate and seeding, abandoned reservations, cleanup.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type FluxRedis } from '../../core/redis/client.js';
import { orderStatusKey, saleKeys } from '../../core/redis/keys.js';
import { confirmReservation, confirmReservations, markOutcomeUnknown, readAcceptedOrder, readIdempotencyRecord, releaseReservation, reserve, reserveMany, type ReserveRequest } from '../../core/redis/reserve.js';
import { closeGate, deleteSaleKeys, openGate, readSaleState, seedSale } from '../../core/redis/sale.js';
import { requireEnv, uniqueName } from '../support/api.js';

let redis: FluxRedis;

beforeAll(async () => {
  redis = createRedis(requireEnv('REDIS_URL'));
  await redis.connect();
});

afterAll(() => redis?.disconnect());

const request = (productId: string, p: Partial<ReserveRequest> = {}): ReserveRequest => ({
  orderId: randomUUID(),
  productId,
  userId: 'u1',
  idempotencyKey: randomUUID(),
  quantity: 1,
  idempotencyTtlSec: 600,
  orderStatusTtlSec: 600,
  pendingStaleMs: 60_000,
  ...p,
});

async function seeded(stock: number, extra: { perUserLimit?: number } = {}) {
  const productId = uniqueName('lua');
  await seedSale(redis, { productId, stock, initialStock: stock, ...extra });
  return productId;
}

describe('Redis scripts', () => {
  it('one call for a batch decides each order exactly as one call per order does, in order', async () => {
    // The same 12 orders, against two sales seeded alike: a repeated key (replay), a key reused by
    // another user, a user over the per-user limit, a quantity above what is left, and stock that
    // runs out in the middle. The batch's answers and what Redis holds afterwards must be the single calls'.
    const [one, many] = [await seeded(5, { perUserLimit: 2 }), await seeded(5, { perUserLimit: 2 })];
    const shape: Array<[userId: string, key: string, quantity: number]> = [
      ['ann', 'k1', 1], ['ann', 'k1', 1], ['bob', 'k1', 1], ['ann', 'k2', 1], ['ann', 'k3', 1], ['cat', 'k4', 2],
      ['dan', 'k5', 2], ['eve', 'k6', 1], ['fay', 'k7', 1], ['gil', 'k8', 1], ['hal', 'k9', 1], ['ivy', 'k10', 1],
    ];
    const orders = (productId: string) => shape.map(([userId, idempotencyKey, quantity], i) => request(productId, { orderId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, userId, idempotencyKey, quantity }));
    const singles = [];
    for (const o of orders(one)) singles.push(await reserve(redis, o));
    const { results: batch } = await reserveMany(redis, request(many), orders(many));
    const strip = (r: Awaited<ReturnType<typeof reserve>>) => ('acceptedAtMs' in r ? { ...r, acceptedAtMs: 0 } : 'record' in r ? { kind: r.kind, orderId: r.record.orderId } : r);
    expect(batch.map(strip)).toEqual(singles.map(strip));
    expect(batch.map((r) => r.kind)).toEqual(['ok', 'replay', 'key_reused', 'ok', 'limit_reached', 'ok', 'sold_out', 'ok', 'sold_out', 'sold_out', 'sold_out', 'sold_out']);
    expect(await readSaleState(redis, many)).toMatchObject({ stock: 0 });
    for (const u of ['ann', 'cat', 'dan', 'eve']) expect(await redis.get(saleKeys(many).user(u))).toBe(await redis.get(saleKeys(one).user(u)));
  });

  it('a reserve call first confirms the orders given to it: p and u become d, TTL kept; others left alone', async () => {
    const productId = await seeded(10);
    const [p1, p2, u1, other, gone] = Array.from({ length: 5 }, () => request(productId));
    for (const r of [p1!, p2!, u1!, other!]) expect((await reserve(redis, r)).kind).toBe('ok');
    await markOutcomeUnknown(redis, productId, u1!.idempotencyKey, u1!.orderId);
    const ttlBefore = await redis.ttl(saleKeys(productId).idem(p1!.idempotencyKey));
    const replayOfP2 = { ...p2!, orderId: randomUUID() };
    const { confirmed, results } = await reserveMany(redis, request(productId), [replayOfP2], [
      { idempotencyKey: p1!.idempotencyKey, orderId: p1!.orderId },
      { idempotencyKey: p2!.idempotencyKey, orderId: p2!.orderId },
      { idempotencyKey: u1!.idempotencyKey, orderId: u1!.orderId },
      { idempotencyKey: other!.idempotencyKey, orderId: randomUUID() }, // another order holds the key
      { idempotencyKey: gone!.idempotencyKey, orderId: gone!.orderId }, // no record
    ]);
    expect(confirmed).toBe(3);
    // The confirmation ran first: the replay in the same call answers the durable order at once.
    expect(results).toEqual([{ kind: 'replay', record: expect.objectContaining({ state: 'done', orderId: p2!.orderId }) }]);
    for (const r of [p1!, u1!]) expect(await readIdempotencyRecord(redis, productId, r.idempotencyKey)).toMatchObject({ state: 'done', orderId: r.orderId });
    expect(await readIdempotencyRecord(redis, productId, other!.idempotencyKey)).toMatchObject({ state: 'pending', orderId: other!.orderId });
    expect(await redis.exists(saleKeys(productId).idem(gone!.idempotencyKey))).toBe(0);
    expect(await redis.ttl(saleKeys(productId).idem(p1!.idempotencyKey))).toBeGreaterThan(ttlBefore - 5);
    expect((await reserveMany(redis, request(productId), [], [{ idempotencyKey: p1!.idempotencyKey, orderId: p1!.orderId }])).confirmed, 'already done').toBe(0);
  });

  it('seed sets stock and config, bumps the epoch, opens the gate', async () => {
    const productId = await seeded(7, { perUserLimit: 3 });
    expect(await readSaleState(redis, productId)).toMatchObject({ seeded: true, stock: 7, state: 'open', epoch: 1, initialStock: 7, perUserLimit: 3, rateLimitPerSecond: null });
    expect(await seedSale(redis, { productId, stock: 4, initialStock: 7 })).toBe(2);
    expect(await readSaleState(redis, productId)).toMatchObject({ stock: 4, epoch: 2, perUserLimit: null });
  });

  it('reserve → pending record and accepted-order record; confirm → done; a repeat replays it', async () => {
    const productId = await seeded(5);
    const r = request(productId);
    expect(await reserve(redis, r)).toMatchObject({ kind: 'ok', remaining: 4, epoch: 1 });
    expect(await readIdempotencyRecord(redis, productId, r.idempotencyKey)).toMatchObject({ state: 'pending', orderId: r.orderId, remaining: 4, quantity: 1, epoch: 1 });
    expect(await readAcceptedOrder(redis, r.orderId)).toMatchObject({ orderId: r.orderId, productId, userId: 'u1', quantity: 1 });
    expect(await confirmReservation(redis, productId, r.idempotencyKey, r.orderId)).toBe(true);
    const again = await reserve(redis, { ...r, orderId: randomUUID() });
    expect(again).toMatchObject({ kind: 'replay', record: { state: 'done', orderId: r.orderId, remaining: 4 } });
    expect(await redis.get(saleKeys(productId).stock)).toBe('4');
  });

  it('release gives the stock and the per-user unit back and frees the key, only for its own order', async () => {
    const productId = await seeded(5, { perUserLimit: 2 });
    const r = request(productId, { quantity: 2 });
    expect(await reserve(redis, r)).toMatchObject({ kind: 'ok', remaining: 3 });
    expect(await releaseReservation(redis, { ...r, orderId: randomUUID() })).toBe('not_ours');
    expect(await redis.get(saleKeys(productId).stock)).toBe('3');
    expect(await releaseReservation(redis, r)).toBe('released');
    expect(await redis.get(saleKeys(productId).stock)).toBe('5');
    expect(await redis.get(saleKeys(productId).user('u1'))).toBe('0');
    expect(await redis.exists(saleKeys(productId).idem(r.idempotencyKey), orderStatusKey(r.orderId))).toBe(0);
    expect(await releaseReservation(redis, r)).toBe('not_ours'); // twice is harmless
    expect(await reserve(redis, { ...r, orderId: randomUUID() })).toMatchObject({ kind: 'ok', remaining: 3 });
  });

  it('release after a reseed (epoch changed) leaves the stock alone but frees the key', async () => {
    const productId = await seeded(5);
    const r = request(productId);
    await reserve(redis, r);
    await seedSale(redis, { productId, stock: 5, initialStock: 5 }); // PostgreSQL never saw the order
    expect(await releaseReservation(redis, r)).toBe('fenced');
    expect(await redis.get(saleKeys(productId).stock)).toBe('5');
    expect(await redis.exists(saleKeys(productId).idem(r.idempotencyKey))).toBe(0);
  });

  it('confirm settles a produce batch of one sale in one call, skipping records of another order or already settled', async () => {
    const productId = await seeded(5);
    const rs = [request(productId), request(productId), request(productId), request(productId)];
    for (const r of rs) expect(await reserve(redis, r)).toMatchObject({ kind: 'ok' });
    await markOutcomeUnknown(redis, productId, rs[1]!.idempotencyKey, rs[1]!.orderId);
    await confirmReservation(redis, productId, rs[2]!.idempotencyKey, rs[2]!.orderId);
    const ttlBefore = await redis.ttl(saleKeys(productId).idem(rs[0]!.idempotencyKey));
    const batch = [
      { idempotencyKey: rs[0]!.idempotencyKey, orderId: rs[0]!.orderId }, // pending -> done
      { idempotencyKey: rs[1]!.idempotencyKey, orderId: rs[1]!.orderId }, // unknown -> done
      { idempotencyKey: rs[2]!.idempotencyKey, orderId: rs[2]!.orderId }, // already done
      { idempotencyKey: rs[3]!.idempotencyKey, orderId: randomUUID() }, // another order's key
      { idempotencyKey: randomUUID(), orderId: randomUUID() }, // no record
    ];
    expect(await confirmReservations(redis, productId, batch)).toBe(2);
    const states = await Promise.all(rs.map((r) => readIdempotencyRecord(redis, productId, r.idempotencyKey)));
    expect(states.map((x) => x?.state)).toEqual(['done', 'done', 'done', 'pending']);
    expect(await redis.ttl(saleKeys(productId).idem(rs[0]!.idempotencyKey))).toBeGreaterThanOrEqual(ttlBefore - 5);
    expect(await confirmReservations(redis, productId, [])).toBe(0);
  });

  it('a confirmed order is never released', async () => {
    const productId = await seeded(5);
    const r = request(productId);
    await reserve(redis, r);
    await confirmReservation(redis, productId, r.idempotencyKey, r.orderId);
    expect(await releaseReservation(redis, r)).toBe('not_ours');
    expect(await redis.get(saleKeys(productId).stock)).toBe('4');
  });

  it('gate: closed → recovering/paused; open only when seeded; missing keys → not_seeded', async () => {
    const productId = await seeded(5);
    await closeGate(redis, productId, 'recovering');
    expect(await reserve(redis, request(productId))).toEqual({ kind: 'recovering' });
    await closeGate(redis, productId, 'paused');
    expect(await reserve(redis, request(productId))).toEqual({ kind: 'paused' });
    expect(await openGate(redis, productId)).toBe(true);
    expect(await reserve(redis, request(productId))).toMatchObject({ kind: 'ok', remaining: 4 });

    await redis.del(saleKeys(productId).stock, saleKeys(productId).meta);
    expect(await reserve(redis, request(productId))).toEqual({ kind: 'not_seeded' });
    expect(await openGate(redis, productId)).toBe(false);
    await closeGate(redis, productId, 'recovering'); // the operator closes a sale that lost its data
    expect(await reserve(redis, request(productId))).toEqual({ kind: 'recovering' });
  });

  it('sold out when fewer units are left than asked; nothing changes', async () => {
    const productId = await seeded(2);
    expect(await reserve(redis, request(productId, { quantity: 3 }))).toEqual({ kind: 'sold_out', stockLeft: 2 });
    expect(await redis.get(saleKeys(productId).stock)).toBe('2');
  });

  it('an abandoned pending reservation is adopted under its first orderId after pendingStaleMs, never re-reserved', async () => {
    const productId = await seeded(5);
    const r = request(productId, { pendingStaleMs: 50 });
    await reserve(redis, r);
    expect(await reserve(redis, { ...r, orderId: randomUUID() })).toMatchObject({ kind: 'replay', record: { state: 'pending', orderId: r.orderId } });
    await new Promise((res) => setTimeout(res, 80));
    expect(await reserve(redis, { ...r, orderId: randomUUID() })).toMatchObject({ kind: 'adopt', record: { orderId: r.orderId, epoch: 1 } });
    expect(await redis.get(saleKeys(productId).stock)).toBe('4');
    // after a reseed the adopted order is reserved again, in the new epoch, under the same orderId
    await seedSale(redis, { productId, stock: 5, initialStock: 5 });
    expect(await reserve(redis, { ...r, orderId: randomUUID() })).toMatchObject({ kind: 'reissue', record: { orderId: r.orderId } });
    expect(await reserve(redis, r)).toMatchObject({ kind: 'ok', remaining: 4, epoch: 2 });
    expect(await readIdempotencyRecord(redis, productId, r.idempotencyKey)).toMatchObject({ state: 'pending', orderId: r.orderId, epoch: 2 });
  });

  it('a produce of unknown outcome: marked unknown, never released, adopted at once', async () => {
    const productId = await seeded(5);
    const r = request(productId);
    await reserve(redis, r);
    expect(await markOutcomeUnknown(redis, productId, r.idempotencyKey, r.orderId)).toBe(true);
    expect(await releaseReservation(redis, r)).toBe('not_ours');
    expect(await redis.get(saleKeys(productId).stock)).toBe('4');
    expect(await reserve(redis, { ...r, orderId: randomUUID() })).toMatchObject({ kind: 'adopt', record: { state: 'unknown', orderId: r.orderId } });
    expect(await confirmReservation(redis, productId, r.idempotencyKey, r.orderId)).toBe(true);
    expect(await markOutcomeUnknown(redis, productId, r.idempotencyKey, r.orderId)).toBe(false); // done stays done
    expect(await reserve(redis, { ...r, orderId: randomUUID() })).toMatchObject({ kind: 'replay', record: { state: 'done', orderId: r.orderId } });
  });

  it('the same attempt run twice (ioredis re-sends it after a reconnect) reserves once and answers ok twice', async () => {
    const productId = await seeded(5, { perUserLimit: 2 });
    const r = request(productId);
    const first = await reserve(redis, r);
    expect(await reserve(redis, r)).toEqual(first);
    expect(await redis.get(saleKeys(productId).stock)).toBe('4');
    expect(await redis.get(saleKeys(productId).user(r.userId))).toBe('1');
  });

  it('a key reused by another user or with another quantity is refused and changes nothing', async () => {
    const productId = await seeded(5);
    const r = request(productId);
    await reserve(redis, r);
    expect(await reserve(redis, { ...r, orderId: randomUUID(), userId: 'bob' })).toEqual({ kind: 'key_reused' });
    expect(await reserve(redis, { ...r, orderId: randomUUID(), quantity: 2 })).toEqual({ kind: 'key_reused' });
    expect(await redis.get(saleKeys(productId).stock)).toBe('4');
    expect(await readIdempotencyRecord(redis, productId, r.idempotencyKey)).toMatchObject({ orderId: r.orderId, userId: 'u1', quantity: 1 });
  });

  it('deleteSaleKeys removes every key of the sale and no other', async () => {
    const productId = await seeded(5, { perUserLimit: 2 });
    const other = await seeded(5);
    await reserve(redis, request(productId));
    expect(await deleteSaleKeys(redis, productId)).toBe(5); // stock, meta, epoch, idem, user
    expect(await redis.keys(`fg:{${productId}}:*`)).toEqual([]);
    expect(await redis.get(saleKeys(other).stock)).toBe('5');
  });

  it('deleteSaleKeys closes the sale before any counter goes: no reservation past a per-user limit mid-deletion', async () => {
    // Many buyers at their limit, so the SCAN removes the sale's keys in many batches.
    const productId = uniqueName('lua-del');
    const users = Array.from({ length: 20_000 }, (_, i) => `b${i}`);
    await seedSale(redis, { productId, stock: 100, initialStock: 100, perUserLimit: 1, userUnits: new Map(users.map((u) => [u, 1])) });
    expect(await reserve(redis, request(productId, { userId: 'b0' }))).toMatchObject({ kind: 'limit_reached' });
    // After each batch the deletion removes, a buyer whose counter just went tries again.
    const answers: string[] = [];
    const unlink = redis.unlink.bind(redis) as (...keys: string[]) => Promise<number>;
    const spy = async (...keys: string[]) => {
      const n = await unlink(...keys);
      const user = keys.find((k) => k.includes(':user:'));
      if (user) answers.push((await reserve(redis, request(productId, { userId: user.split(':user:')[1]! }))).kind);
      return n;
    };
    (redis as unknown as { unlink: typeof spy }).unlink = spy;
    let removed = 0;
    try {
      removed = await deleteSaleKeys(redis, productId);
    } finally {
      delete (redis as unknown as { unlink?: unknown }).unlink; // the prototype's again
    }
    expect(answers.length).toBeGreaterThan(1);
    expect(answers.filter((a) => a !== 'not_seeded'), 'reservations accepted while the sale was being deleted').toEqual([]);
    expect(removed).toBe(users.length + 3); // + stock, meta, epoch
    expect(await redis.keys(`fg:{${productId}}:*`)).toEqual([]);
  });
});
