// The API on Redis Sentinel (REDIS_SENTINELS + REDIS_SENTINEL_MASTER): it finds the master through
// the Sentinel, follows a forced failover (the old master stays up and is demoted) and a crash of
// the master, answers only 200 or 503 meanwhile, and sells exactly the stock: no oversell, no unit lost.
// Two replicas: the API waits for one to acknowledge each reservation (REDIS_REPLICA_ACKS, 1 by
// default on Sentinel), so after the crash the promoted node still needs one. The failover with
// writes in the loss window, operator running, is e2e/operator/sentinel-failover.test.ts.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type FluxRedis } from '../../core/redis/client.js';
import { saleKeys } from '../../core/redis/keys.js';
import { http, initSale, order, startApi, topicOrders, type ApiHarness, type Res } from '../support/api.js';
import { waitFor } from '../support/wait.js';
import { MASTER_NAME, startSentinelTopology, type RedisNode, type SentinelTopology } from '../support/redis-topologies.js';

const STOCK = 40;
let topo: SentinelTopology;
let h: ApiHarness;
let redis: FluxRedis;

beforeAll(async () => {
  topo = await startSentinelTopology({ replicas: 2 });
  h = await startApi('sentinel', { REDIS_URL: '', ...topo.env, REDIS_COMMAND_TIMEOUT_MS: '1000' });
  redis = createRedis({ mode: 'sentinel', sentinels: [topo.env.REDIS_SENTINELS], masterName: MASTER_NAME });
  redis.on('error', () => undefined);
  await redis.connect();
}, 120_000);

afterAll(async () => {
  redis?.disconnect();
  await h?.close();
  await topo?.stop();
});

const role = async (n: RedisNode) => {
  const c = n.client();
  c.on('error', () => undefined);
  try {
    return ((await c.call('ROLE')) as unknown[])[0] as string;
  } finally {
    c.disconnect();
  }
};

describe('API on Redis Sentinel', () => {
  it(`sells exactly ${STOCK} through a forced failover and a master crash, answering only 200 or 503 meanwhile`, async () => {
    const productId = `sentinel-${randomUUID().slice(0, 8)}`;
    await initSale(h.base, { productId, quantity: STOCK });
    const answers: Res[] = [];
    const buy = async () => {
      const r = await order(h.base, { productId, userId: `u-${randomUUID().slice(0, 8)}` });
      answers.push(r);
      if (r.status === 503) await new Promise((res) => setTimeout(res, 50)); // a client backs off a little
      return r;
    };
    /** Sequential orders until `n` are accepted (503 allowed: the client is switching masters). */
    const buyUntilAccepted = async (n: number, concurrency = 1) => {
      let accepted = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (accepted < n) if ((await buy()).status === 200) accepted++;
        }),
      );
    };

    // 1. Through the Sentinel to the first master.
    const first = await topo.master();
    await buyUntilAccepted(10);
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(200));

    // 2. Forced failover: the replica is promoted, the old master (still running) is demoted.
    await topo.syncReplicas(); // nothing acknowledged to a buyer is lost in the switch
    const sentinel = topo.sentinel.client();
    await sentinel.call('SENTINEL', 'FAILOVER', MASTER_NAME).finally(() => sentinel.disconnect());
    const second = await topo.waitForNewMaster(first);
    await waitFor(`old master :${first.port} demoted`, async () => ((await role(first)) === 'slave' ? true : undefined));
    await buyUntilAccepted(5);

    // 3. The master crashes while 4 buyers keep ordering; the Sentinel promotes the other node.
    await topo.syncReplicas();
    const before = answers.length;
    await second.kill();
    const third = topo.waitForNewMaster(second);
    await buyUntilAccepted(5, 4);
    expect((await third).port).not.toBe(second.port);
    const duringCrash = answers.slice(before).map((r) => r.status);
    expect(duringCrash.filter((s) => s === 503).length, 'the crash was visible: some orders answered 503').toBeGreaterThan(0);

    // 4. Sell out on the new master.
    while ((await buy()).status !== 409);

    const statuses = answers.map((r) => r.status);
    expect(new Set(statuses), 'only accepted, unavailable (503) or finally sold out').toEqual(new Set([200, 503, 409]));
    for (const r of answers.filter((a) => a.status === 503)) expect(r.headers['retry-after'], r.text).toBeDefined();
    expect(statuses.filter((s) => s === 200).length, 'accepted orders').toBe(STOCK);
    // The test's own client may still be finding the new master (its reconnect backs off).
    expect(await waitFor('the stock read from the new master', () => redis.get(saleKeys(productId).stock).catch(() => undefined), 30_000)).toBe('0');
    expect(await topicOrders(h.topic), 'orders in Kafka').toBe(STOCK);
    // Ready again on the new master (its reconnect may still be backing off after the crash): never stuck.
    await waitFor('fluxgate_redis_up 1 on the new master', async () => /^fluxgate_redis_up\{component="api"\} 1$/m.test((await http(h.metrics, 'GET', '/metrics')).text) || undefined, 60_000);
    console.info(`sentinel: ${answers.length} answers, ${statuses.filter((s) => s === 503).length} × 503 (${duringCrash.filter((s) => s === 503).length} during the crash)`);
  }, 180_000);
});
