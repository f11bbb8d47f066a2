// A Sentinel-mode client keeps reconnecting whatever the order of events: the Sentinels announce
// the failover (+switch-master, to the failover detector of the connection that died) while the
// client is still asking a Sentinel where the master is. ioredis then ends that connect attempt
// with "Connection is closed." and leaves the client in status `end` for good (chaos run, issue 7:
// an API answered 503 to every order until the end). createRedis must connect again by itself:
// the API and a bare client both serve again after the heal.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type FluxRedis } from '../../core/redis/client.js';
import { initSale, order, startApi, type ApiHarness } from '../support/api.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait.js';
import { MASTER_NAME, reseedOn, startSentinelTopology, type SentinelTopology } from '../support/redis-topologies.js';

let topo: SentinelTopology;
let proxy: TcpProxy;
let redis: FluxRedis;
let h: ApiHarness;

beforeAll(async () => {
  topo = await startSentinelTopology({ replicas: 1 });
  // The client reaches the Sentinel only through this proxy: it can hold the client's next question.
  proxy = await startTcpProxy({ host: '127.0.0.1', port: topo.sentinel.port });
  // One replica, so no WAIT for replica acks (the promoted node has none left): not the subject here.
  h = await startApi('sentinel-reconnect', {
    REDIS_URL: '',
    REDIS_SENTINELS: `127.0.0.1:${proxy.port}`,
    REDIS_SENTINEL_MASTER: MASTER_NAME,
    REDIS_REPLICA_ACKS: '0',
    REDIS_COMMAND_TIMEOUT_MS: '1000',
  });
}, 180_000);

afterAll(async () => {
  redis?.disconnect();
  await h?.close();
  await proxy?.close();
  await topo?.stop();
});

describe('Sentinel client after a failover announced mid-reconnect', () => {
  it('the API and a client serve again once the Sentinel answers', async () => {
    const productId = `reconnect-${randomUUID().slice(0, 8)}`;
    await initSale(h.base, { productId, quantity: 100 });
    expect((await order(h.base, { productId, userId: 'u-before' })).status).toBe(200);

    redis = createRedis({ mode: 'sentinel', sentinels: [`127.0.0.1:${proxy.port}`], masterName: MASTER_NAME }, { connectionName: 'reconnect-test' });
    const errors: string[] = [];
    redis.on('error', (e: Error) => errors.push(e.message));
    await redis.connect();
    let ended = 0; // ioredis gave up on a connect attempt: the window this test is about
    redis.on('end', () => ended++);
    const key = `fg:test:${randomUUID()}`;
    await redis.set(key, 'before');
    // The failover detector subscribed to +switch-master (through the proxy) for this connection.
    const admin = topo.sentinel.client();
    admin.on('error', () => undefined);
    // Two: the API's and this client's.
    await waitFor('both failover detectors subscribed', async () => ((await admin.call('CLIENT', 'LIST')) as string).match(/flags=P/g)?.length === 2);
    await topo.syncReplicas(); // the sale is on the replica that will be promoted

    // The client's next "where is the master?" waits at the proxy; the detector's link keeps flowing.
    const hold = proxy.holdNewConnections();
    const announced = proxy.serverSent((chunk) => chunk.includes('+switch-master'));
    const first = await topo.master();
    await first.kill();
    const promoted = await topo.waitForNewMaster(first);
    await announced; // the detector got it while the client is inside connect()
    await waitFor('the client to be reconnecting', async () => redis.status !== 'ready');
    hold.release();
    admin.disconnect();
    await reseedOn(promoted, productId); // as the operator does after a failover (the fence)

    // Healed: the Sentinel answers and names a live master; the API and the client must serve again.
    let n = 0;
    await waitFor('an order accepted after the heal', async () => (await order(h.base, { productId, userId: `u-after-${n++}` })).status === 200, 60_000, 250);
    await waitFor('a command to succeed after the heal', async () => (await redis.set(key, 'after')) === 'OK', 60_000, 250);
    expect(await redis.get(key)).toBe('after');
    expect(ended, 'the aborted connect attempt (status end) was hit').toBeGreaterThan(0);
  }, 180_000);
});
