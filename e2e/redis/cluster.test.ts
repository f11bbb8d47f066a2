// The API on a 3-master Redis Cluster (REDIS_CLUSTER_NODES): every script touches one slot (the
// order id carries a hash tag in its sale's slot), sales spread over the nodes, a stampede sells
// exactly the stock, and GET /order/:orderId finds an accepted order from its id alone.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newOrderId, orderStatusKey, saleKeys } from '../../core/redis/keys.js';
import { keySlot } from '../../core/redis/slots.js';
import { countBy, http, initSale, order, startApi, topicOrders, type ApiHarness } from '../support/api.js';
import { startCluster, type ClusterTopology } from '../support/redis-topologies.js';

let cluster: ClusterTopology;
let h: ApiHarness;

beforeAll(async () => {
  cluster = await startCluster();
  h = await startApi('cluster', { REDIS_URL: '', ...cluster.env });
}, 120_000);

afterAll(async () => {
  await h?.close();
  await cluster?.stop();
});

/** Product ids whose sales live on three different masters. */
async function productsOnEveryNode(): Promise<string[]> {
  const byNode = new Map<number, string>();
  while (byNode.size < cluster.nodes.length) {
    const id = `cl-${randomUUID().slice(0, 8)}`;
    const port = await cluster.nodeOfSlot(keySlot(saleKeys(id).stock));
    if (!byNode.has(port)) byNode.set(port, id);
  }
  return [...byNode.values()];
}

describe('API on Redis Cluster', () => {
  it('computes the slots Redis computes, and puts each order record in its sale’s slot', async () => {
    const keys = ['123456789', 'somekey', 'foo{hash_tag}', 'fg:{phone-1}:stock', 'fg:{a}}:b', 'x{}y'];
    for (const productId of ['phone-1', 'p', 'sale:2026/black-friday', randomUUID()]) {
      const id = newOrderId(productId);
      keys.push(saleKeys(productId).stock, orderStatusKey(id));
      expect(await cluster.keySlot(orderStatusKey(id)), productId).toBe(await cluster.keySlot(saleKeys(productId).stock));
    }
    for (const k of keys) expect(keySlot(k), k).toBe(await cluster.keySlot(k));
  });

  it('300 concurrent buyers for 3 sales of 10 on three nodes: exactly 30 accepted; GET /order reads pending', async () => {
    const products = await productsOnEveryNode();
    for (const productId of products) await initSale(h.base, { productId, quantity: 10 });

    const answers = await Promise.all(
      Array.from({ length: 300 }, (_, i) => order(h.base, { productId: products[i % 3]!, userId: `u-${i}` })),
    );
    expect(countBy(answers, (r) => r.status)).toEqual({ 200: 30, 409: 270 });
    const accepted = answers.filter((r) => r.status === 200);
    expect(countBy(accepted, (r) => r.body.productId)).toEqual(Object.fromEntries(products.map((p) => [p, 10])));
    expect(new Set(accepted.map((r) => r.body.orderId)).size).toBe(30);
    for (const productId of products) {
      const inv = await http(h.base, 'GET', `/inventory/${productId}`);
      expect(inv.body, productId).toMatchObject({ remaining: 0 });
    }
    expect(await topicOrders(h.topic), 'orders in Kafka').toBe(30);

    // No worker runs here: PostgreSQL does not have the orders, the Redis record answers.
    for (const r of accepted.slice(0, 6)) {
      const { orderId, productId } = r.body;
      const status = await http(h.base, 'GET', `/order/${orderId}`);
      expect(status.status, status.text).toBe(200);
      expect(status.body).toMatchObject({ orderId, status: 'pending', productId, quantity: 1 });
      // The record sits on the node of the sale.
      const port = await cluster.nodeOfSlot(keySlot(saleKeys(productId).stock));
      const node = cluster.nodes.find((n) => n.port === port)!.client();
      try {
        expect(await node.exists(orderStatusKey(orderId))).toBe(1);
      } finally {
        node.disconnect();
      }
    }
    expect((await http(h.base, 'GET', `/order/${randomUUID()}`)).status).toBe(404);
  }, 120_000);

  it('reports the Redis connection and the PostgreSQL pool in /metrics', async () => {
    const text = (await http(h.metrics, 'GET', '/metrics')).text;
    expect(text).toMatch(/^fluxgate_redis_up\{component="api"\} 1$/m);
    expect(text).toMatch(/^fluxgate_pg_pool_max\{component="api"\} 4$/m);
    expect(text).toMatch(/^fluxgate_pg_pool_in_use\{component="api"\} [0-4]$/m);
  });
});
