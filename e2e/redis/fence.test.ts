// The fence in reserve.lua: a sale sells only on the node (and the term of it) it was seeded on.
// Each case is a node that holds the sale's keys and takes writes but may lack the last ones: a
// replica promoted, a node demoted, resynced and promoted again (its run_id unchanged), a restart
// from an old snapshot. Before the fence each of them reserved at once (long chaos run 1040468800,
// +1425.9 s: one key answered 200 twice with two orderIds, no reseed in between). The reservation
// must be refused with nothing changed, the operator's view (saleNode) must say fenced, and a seed
// on that node must lift the fence.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type FluxRedis } from '../../core/redis/client.js';
import { saleKeys } from '../../core/redis/keys.js';
import { readIdempotencyRecord, reserve } from '../../core/redis/reserve.js';
import { saleNode, seedSale } from '../../core/redis/sale.js';
import { admin, startReplicationPair, type RedisNode, type ReplicationPair } from '../support/redis-topologies.js';
import { waitFor } from '../support/wait.js';

let pair: ReplicationPair;
const clients: FluxRedis[] = [];

beforeAll(async () => {
  pair = await startReplicationPair();
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await pair?.stop();
});

/** A product client of one node (what an API pod holds). */
const on = (n: RedisNode) => {
  const c = createRedis(`redis://127.0.0.1:${n.port}`);
  c.on('error', () => undefined);
  clients.push(c);
  return c;
};
const order = (productId: string) => ({
  orderId: randomUUID(),
  productId,
  userId: `u-${randomUUID().slice(0, 8)}`,
  idempotencyKey: randomUUID(),
  quantity: 1,
  idempotencyTtlSec: 600,
  orderStatusTtlSec: 600,
  pendingStaleMs: 60_000,
});
const promote = (n: RedisNode) => admin(n, (c) => c.call('REPLICAOF', 'NO', 'ONE'));
const follow = async (n: RedisNode, master: RedisNode) => {
  await admin(n, (c) => c.call('REPLICAOF', '127.0.0.1', String(master.port)));
  await waitFor(`:${n.port} in sync with :${master.port}`, () => admin(n, async (c) => ((await c.info('replication')).includes('master_link_status:up') ? true : undefined)));
};
const runId = (n: RedisNode) => admin(n, async (c) => /run_id:(\w+)/.exec(await c.info('server'))![1]);

/** A refused reservation changes nothing: same stock, no record for its key. */
async function expectFenced(redis: FluxRedis, productId: string) {
  const stock = await redis.get(saleKeys(productId).stock);
  const o = order(productId);
  expect((await reserve(redis, o)).kind, 'a reservation on a node the sale was not seeded on').toBe('fenced');
  expect(await redis.get(saleKeys(productId).stock), 'stock unchanged').toBe(stock);
  expect(await readIdempotencyRecord(redis, productId, o.idempotencyKey), 'no record for the refused key').toBeNull();
  expect((await saleNode(redis, productId)).fenced, "the operator's view: fenced").toBe(true);
}

describe('reserve.lua fences a sale to the node term it was seeded on', () => {
  it('a promoted replica, then the old master demoted, resynced and promoted again (same run_id): refused until reseeded there', async () => {
    const p = `fence-${randomUUID().slice(0, 8)}`;
    const { master: a, replica: b } = pair;
    const onA = on(a);
    await seedSale(onA, { productId: p, stock: 10, initialStock: 10 });
    for (let i = 0; i < 3; i++) expect((await reserve(onA, order(p))).kind).toBe('ok');
    expect(await saleNode(onA, p)).toMatchObject({ fenced: false });
    await admin(a, (c) => c.call('WAIT', '1', '5000'));

    // Failover: the replica takes writes. It has every key, yet it must not sell.
    await promote(b);
    const onB = on(b);
    await expectFenced(onB, p);
    await seedSale(onB, { productId: p, stock: 7, initialStock: 10 });
    expect((await reserve(onB, order(p))).kind, 'reseeded on this node: sells').toBe('ok');

    // The old master follows the new one (a full resync replaces its data, its run_id stays), then
    // is promoted again: the operator's run_id check alone would not see this.
    const aRunId = await runId(a);
    await follow(a, b);
    await promote(a);
    const onA2 = on(a);
    expect((await saleNode(onA2, p)).runId, 'same process, same run_id').toBe(aRunId);
    await expectFenced(onA2, p);
    await seedSale(onA2, { productId: p, stock: 6, initialStock: 10 });
    expect((await reserve(onA2, order(p))).kind).toBe('ok');
    await follow(b, a); // back to one master for the next case
  }, 60_000);

  it('a restart from an old snapshot: refused, though the snapshot holds the sale with its gate open', async () => {
    const p = `fence-rdb-${randomUUID().slice(0, 8)}`;
    const n = pair.master;
    const before = on(n);
    await seedSale(before, { productId: p, stock: 10, initialStock: 10 });
    await admin(n, (c) => c.call('SAVE'));
    const sold = order(p);
    expect((await reserve(before, sold)).kind).toBe('ok'); // after the snapshot: lost by the restart
    await n.restart();
    const after = on(n);
    expect(await after.get(saleKeys(p).stock), 'the snapshot holds the sale as it was').toBe('10');
    expect(await readIdempotencyRecord(after, p, sold.idempotencyKey), 'without the last reservation').toBeNull();
    await expectFenced(after, p);
  }, 60_000);
});
