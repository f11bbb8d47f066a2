// The operator on a real 3-master Redis Cluster, with the API and a worker: each master has its own
// run_id, so restart detection must watch the master of the sale's slot. A steady sale never
// starts a recovery; restarting that master empty starts exactly one, which reseeds from
// PostgreSQL, and the sale sells out with nothing oversold, lost or rejected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saleKeys } from '../../core/redis/keys.js';
import { keySlot } from '../../core/redis/slots.js';
import type { RunningProcess } from '../support/processes.js';
import { startCluster, type ClusterTopology } from '../support/redis-topologies.js';
import {
  buyers, flashSale, getSale, kubectl, startSaleStack, stopAll, storedOrders, testbed, uniqueName, waitFor, waitForSale,
  type Backends,
} from './support.js';

const STOCK = 500;
let ns = '';
let b: Backends;
let cluster: ClusterTopology;
let procs: RunningProcess[] = [];
let apiBase = '';

beforeAll(async () => {
  cluster = await startCluster();
  const t = await testbed('cluster', 3);
  ({ ns, b } = t);
  ({ procs, apiBase } = await startSaleStack(t, cluster.env));
}, 240_000);

afterAll(async () => {
  await stopAll(procs, b);
  await cluster?.stop();
});

describe('operator on Redis Cluster', () => {
  it('no recovery while the sale runs; the slot owner restarted empty: exactly one recovery, sold out exactly', async () => {
    const name = 'clustered';
    const productId = uniqueName('cluster-sale');
    const slot = keySlot(saleKeys(productId).stock);
    expect(await cluster.keySlot(saleKeys(productId).stock)).toBe(slot);
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale(name, { productId, stock: STOCK, limits: { perUser: 1 } }) });
    await waitForSale(ns, name, 'Active', (x) => x.status?.phase === 'Active');
    const stream = buyers(apiBase, productId, { everyMs: 40 });

    // Steady sale: 8 s of polls every 0.5 s (each one reads the run_id), orders flowing.
    await waitFor('orders accepted', async () => stream.accepted().length >= 5 || undefined, 30_000, 50);
    await new Promise((r) => setTimeout(r, 8_000));
    const steady = await getSale(ns, name);
    expect(steady?.status?.recovery?.count ?? 0, `spurious recoveries: ${JSON.stringify(steady?.status?.recovery)}`).toBe(0);
    expect(stream.answers.filter((a) => a.status !== 200), 'only 200 while nothing fails').toEqual([]);

    // The master of the sale's slot restarts with no data (same node id and slots from nodes.conf).
    const ownerPort = await cluster.nodeOfSlot(slot);
    await cluster.nodes.find((n) => n.port === ownerPort)!.restart();
    const recovered = await waitForSale(ns, name, 'recovered', (x) => (x.status?.recovery?.count ?? 0) >= 1 && x.status?.phase !== 'Recovering', 120_000);
    // Keys gone is checked before the run_id, so an empty restart reads as RedisKeysMissing.
    expect(['RedisKeysMissing', 'RedisRestarted']).toContain(recovered.status?.recovery?.reason);

    await waitForSale(ns, name, 'sold out and drained', (x) => x.status?.phase === 'SoldOut' && x.status.workers?.lag === 0 && x.status.stock?.postgres === 0, 180_000);
    await stream.stop();
    const ok = stream.accepted();
    const rows = await storedOrders(b, productId, ok);
    // A few more polls after sell-out: still exactly one recovery.
    await new Promise((r) => setTimeout(r, 3_000));
    const final = await getSale(ns, name);

    const statusOf = new Map(rows.map((r) => [r.id, r.status]));
    const confirmed = rows.filter((r) => r.status === 'confirmed').length;
    console.info(`[operator on cluster] ${JSON.stringify({ slot, ownerPort, answers: stream.answers.length, accepted: ok.length, confirmed, recovery: final?.status?.recovery })}`);

    expect(final?.status?.recovery?.count, 'exactly one recovery').toBe(1);
    expect(ok.filter((id) => statusOf.get(id) !== 'confirmed'), 'answered 200 but not confirmed').toEqual([]);
    expect(rows.filter((r) => r.status === 'rejected'), 'rejected orders').toEqual([]);
    expect(confirmed, 'nothing oversold, nothing left').toBe(STOCK);
    expect(final?.status?.stock).toMatchObject({ postgres: 0, redis: 0, sold: STOCK });
  }, 300_000);
});
