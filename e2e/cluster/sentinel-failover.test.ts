// The chart in Redis Sentinel mode on the real node: the pods find the master through a Sentinel
// (host processes reached on the node uplink's address, which every node is also known by), the
// master is SIGKILLed while buyers order through the API Service, the Sentinel promotes a replica,
// the operator pod sees the new run_id and runs a recovery (status.recovery), and the sale sells
// out. Invariants from what clients were answered and what PostgreSQL and the promoted Redis hold:
// nothing oversold, every 200 confirmed (none rejected), Redis stock = PostgreSQL stock.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { saleKeys } from '../../core/redis/keys.js';
import { MASTER_NAME, startSentinelTopology, type SentinelTopology } from '../support/redis-topologies.js';
import {
  byStatus, createNamespace, flashSaleManifest, helm, installRelease, kubectl, kubectlJson, nodePortOf, nodeValues,
  orderStream, podsSummary, saleInStores, waitFor,
} from './cluster.js';

const cluster = inject('cluster');
const ns = `fg-sentinel-${Date.now().toString(36)}`;
const release = 'flux-gate';
const STOCK = 120;
const log = (line: string) => process.stderr.write(`[cluster sentinel] ${line}\n`);
let topo: SentinelTopology;
let installed = false;

async function saleStatus(name: string): Promise<any> {
  return (await kubectlJson(['get', 'flashsale', name, '-n', ns])).status ?? {};
}

/** The sale's stock key on whatever node the Sentinel names as master now. */
async function redisStock(productId: string): Promise<number> {
  const m = await topo.master();
  const c: Redis = m.client();
  c.on('error', () => undefined);
  try {
    return Number(await c.get(saleKeys(productId).stock));
  } finally {
    c.disconnect();
  }
}

beforeAll(async () => {
  // Two replicas: the API waits for one to acknowledge each reservation (REDIS_REPLICA_ACKS), so the
  // promoted node still has one after the crash.
  topo = await startSentinelTopology({ replicas: 2, address: cluster.hostIp });
  await createNamespace(ns);
  const values = nodeValues(cluster, ns, {
    redis: { mode: 'sentinel', sentinel: { masterName: MASTER_NAME, endpoints: [topo.env.REDIS_SENTINELS] } },
  });
  log(`helm install --wait (Sentinel mode) to every pod Ready: ${await installRelease(ns, release, values)} s`);
  installed = true;
});

afterAll(async () => {
  if (installed) {
    await kubectl(['delete', 'flashsales.fluxgate.io', '--all', '-n', ns, '--wait=true', '--timeout=180s']).catch((e: Error) => log(e.message));
    await helm(['uninstall', release, '-n', ns, '--wait', '--timeout', '5m']).catch((e: Error) => log(e.message));
  }
  await kubectl(['delete', 'namespace', ns, '--wait=false']).catch((e: Error) => log(e.message));
  await topo?.stop();
});

describe('Redis Sentinel failover on the real node', () => {
  it('master SIGKILLed mid-stream: a replica is promoted, the operator recovers, sold out with no oversell and no 200 lost', async () => {
    const name = 'drop';
    const productId = `sentinel-${ns}`;
    await kubectl(['apply', '-f', '-'], flashSaleManifest(ns, name, productId, STOCK, { deployment: `${release}-worker`, minReplicas: 1, maxReplicas: 2 }));
    await waitFor('FlashSale Active', 180_000, async () => ((await saleStatus(name)).phase === 'Active' ? true : undefined),
      async () => JSON.stringify(await saleStatus(name)));
    const baseUrl = `http://${cluster.nodeIp}:${await nodePortOf(ns, `${release}-api`)}`;
    const stream = orderStream(baseUrl, [productId], 6, { pauseMs: 30 });
    const accepted = () => stream.answers.filter((a) => a.status === 200).length;
    await waitFor('a third of the stock sold before the crash', 180_000, async () => (accepted() >= STOCK / 3 ? true : undefined),
      async () => JSON.stringify(byStatus(stream.answers)));

    // The crash: no sync first, the API's replica acknowledgement is what keeps the 200s.
    const recoveriesBefore = (await saleStatus(name)).recovery?.count ?? 0;
    const master = await topo.master();
    const acceptedAtKill = accepted();
    const killedAt = Date.now();
    await master.kill();
    const promoted = await topo.waitForNewMaster(master, 60_000);
    log(`master :${master.port} SIGKILLed after ${acceptedAtKill} × 200; promoted :${promoted.port}`);

    const final = await waitFor('recovered by the operator, sold out and drained', 300_000, async () => {
      const s = await saleStatus(name);
      return (s.recovery?.count ?? 0) > recoveriesBefore && s.phase === 'SoldOut' && s.workers?.lag === 0 && s.stock?.postgres === 0 ? s : undefined;
    }, async () => `${JSON.stringify(await saleStatus(name))}\n${JSON.stringify(byStatus(stream.answers))}\n${await podsSummary(ns)}`);
    const answers = await stream.stop();
    const ok = answers.filter((a) => a.status === 200).map((a) => a.orderId!);

    // Answers given after the status was read are in Kafka too: wait until PostgreSQL holds every 200.
    const stores = await waitFor('every 200 in PostgreSQL', 180_000, async () => {
      const s = await saleInStores(cluster.databaseUrl, productId, ok);
      return s.lost === 0 ? s : undefined;
    }).catch(() => saleInStores(cluster.databaseUrl, productId, ok));
    const inRedis = await redisStock(productId);
    log(`sentinel failover: ${JSON.stringify({
      answers: byStatus(answers), afterKill: byStatus(answers.filter((a) => a.sentAt >= killedAt)), answered200: ok.length,
      recovery: final.recovery, ...stores, redisStock: inRedis,
    })}`);

    expect(final.recovery.reason, 'the recovery was run for the Redis failover').toBe('RedisRestarted');
    expect(stores.lost, 'answered 200 but not in PostgreSQL').toBe(0);
    expect(stores.acceptedThenRejected, 'answered 200 but stored as rejected').toBe(0);
    expect(stores.rejected, 'rejected orders in PostgreSQL').toBe(0);
    expect(ok.length, 'answered 200 = stock: nothing oversold, nothing left').toBe(STOCK);
    expect(stores.confirmed, 'confirmed in PostgreSQL = stock').toBe(STOCK);
    expect(stores.unanswered, 'orders in PostgreSQL no client was answered 200 for').toBe(0);
    expect(stores.stockDrift, 'initial − confirmed − PostgreSQL stock').toBe(0);
    expect(stores.pgStock).toBe(0);
    expect(inRedis, 'Redis stock (promoted master) = PostgreSQL stock').toBe(stores.pgStock);
  });
});
