// Day-2 operations on real pods, one install shared by every test (in this order): the operator
// scales the worker Deployment on the consumer lag and back down; worker pods deleted mid-stream;
// the leading operator pod deleted mid-recovery; `helm upgrade` rolling every pod under load;
// `helm uninstall` in the documented order. Invariants come from what clients were answered and
// what PostgreSQL, Redis and Kafka hold (never from Flux-Gate's metrics or status counters).
import { loadavg } from 'node:os';
import { Kafka, logLevel } from 'kafkajs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { partitionOfProduct } from '../../core/kafka/partitioner.js';
import { saleKeys } from '../../core/redis/keys.js';
import {
  byStatus, CHART, createNamespace, flashSaleManifest, helm, installRelease, kubectl, kubectlJson, nodePortOf, nodeValues,
  orderStream, podsSummary, saleInStores, waitFor, type Answer,
} from './cluster.js';

const cluster = inject('cluster');
const ns = `fg-ops-${Date.now().toString(36)}`;
const release = 'flux-gate';
const workerDeployment = `${release}-worker`;
const topic = `orders-${ns}`;
const groupId = `worker-${ns}`;
const PARTITIONS = 3;
const log = (line: string) => process.stderr.write(`[cluster ops] ${line}\n`);
const env = (name: string) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (the cluster set-up exports the stack's env)`);
  return v;
};

let baseUrl = '';
let upgradeProduct = '';
let valuesFile = '';
let installed = false;
const kafka = new Kafka({ clientId: 'e2e-cluster-ops', brokers: env('KAFKA_BROKERS').split(','), logLevel: logLevel.NOTHING });
const admin = kafka.admin();
const redis = new Redis(env('REDIS_URL'), { lazyConnect: true, maxRetriesPerRequest: 2 });

/** `count` product ids of this namespace, on distinct partitions of the orders topic. */
function productsOnDistinctPartitions(prefix: string, count: number): string[] {
  const byPartition = new Map<number, string>();
  for (let i = 0; byPartition.size < count; i++) {
    const id = `${prefix}-${ns}-${i}`;
    const p = partitionOfProduct(id, PARTITIONS);
    if (!byPartition.has(p)) byPartition.set(p, id);
  }
  return [...byPartition.values()];
}

/** The consumer lag as Kafka holds it: log-end minus the group's committed offset, summed. */
async function kafkaLag(): Promise<number> {
  const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  return ends.reduce((sum, e) => sum + Number(e.high) - Math.max(0, done.get(e.partition) ?? 0), 0);
}

/** Hosts of the consumer group's members as the Kafka coordinator sees them (the pods' IPs). */
async function groupMemberHosts(): Promise<string[]> {
  const { groups } = await admin.describeGroups([groupId]);
  return (groups[0]?.members ?? []).map((m) => m.clientHost.replace(/^\//, '')).sort();
}

interface WorkerPod { name: string; ip: string; ready: boolean; deleting: boolean }
async function workerPods(): Promise<WorkerPod[]> {
  const pods = await kubectlJson<{ items: any[] }>(['get', 'pods', '-n', ns, '-l', 'app.kubernetes.io/component=worker']);
  return pods.items.map((p) => ({
    name: p.metadata.name,
    ip: p.status.podIP ?? '',
    ready: (p.status.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True'),
    deleting: Boolean(p.metadata.deletionTimestamp),
  }));
}

async function deploymentReplicas(name: string): Promise<{ spec: number; ready: number }> {
  const d = await kubectlJson(['get', 'deployment', name, '-n', ns]);
  return { spec: d.spec.replicas ?? 0, ready: d.status.readyReplicas ?? 0 };
}

async function saleStatus(name: string): Promise<any> {
  return (await kubectlJson(['get', 'flashsale', name, '-n', ns])).status ?? {};
}

async function applySale(name: string, productId: string, stock: number, workers: Record<string, unknown>): Promise<void> {
  await kubectl(['apply', '-f', '-'], flashSaleManifest(ns, name, productId, stock, { deployment: workerDeployment, ...workers }));
  await waitFor(`FlashSale ${name} Active`, 180_000, async () => ((await saleStatus(name)).phase === 'Active' ? true : undefined),
    async () => JSON.stringify(await saleStatus(name)));
}

/** Deletes every FlashSale of the namespace while the operator runs (it removes the finalizers). */
async function deleteSales(): Promise<void> {
  await kubectl(['delete', 'flashsales.fluxgate.io', '--all', '-n', ns, '--wait=true', '--timeout=180s']);
}

/** Waits until every order answered 200 is in PostgreSQL and Kafka's lag is 0; returns when (ms). */
async function drained(answers: Answer[], productIds: string[], timeoutMs = 300_000): Promise<number> {
  const lost = async () => {
    let n = 0;
    for (const p of productIds) {
      const accepted = answers.filter((a) => a.productId === p && a.status === 200).map((a) => a.orderId!);
      n += (await saleInStores(cluster.databaseUrl, p, accepted)).lost;
    }
    return n;
  };
  return waitFor('every accepted order in PostgreSQL and the consumer lag 0', timeoutMs, async () =>
    (await lost()) === 0 && (await kafkaLag()) === 0 ? Date.now() : undefined,
  async () => `not in PostgreSQL: ${await lost().catch((e: Error) => e.message)}; lag ${await kafkaLag().catch((e: Error) => e.message)}\n${await podsSummary(ns)}`);
}

/** The per-product invariants (lost, accepted then rejected, applied twice, Redis ≠ PostgreSQL), printed and asserted. */
async function expectSettled(label: string, answers: Answer[], productIds: string[]): Promise<void> {
  for (const productId of productIds) {
    const accepted = answers.filter((a) => a.productId === productId && a.status === 200).map((a) => a.orderId!);
    const noAnswer = answers.filter((a) => a.productId === productId && a.status === 0).length;
    const stores = await saleInStores(cluster.databaseUrl, productId, accepted);
    const redisStock = await waitFor(`Redis stock of ${productId} equal to PostgreSQL's`, 120_000, async () => {
      const v = Number(await redis.get(saleKeys(productId).stock));
      const pgNow = (await saleInStores(cluster.databaseUrl, productId, accepted)).pgStock;
      return v === pgNow ? v : undefined;
    }).catch(async () => Number(await redis.get(saleKeys(productId).stock)));
    log(`${label} ${productId}: ${JSON.stringify({ answered200: accepted.length, noAnswer, ...stores, redisStock })}`);
    expect(stores.lost, `${productId}: answered 200, not in PostgreSQL`).toBe(0);
    expect(stores.acceptedThenRejected, `${productId}: answered 200, stored rejected`).toBe(0);
    expect(stores.stockDrift, `${productId}: initial − confirmed − stock (≠ 0: an order applied twice)`).toBe(0);
    // A row no client saw a 200 for may only come from a request that got no answer.
    expect(stores.unanswered).toBeLessThanOrEqual(noAnswer);
    expect(stores.confirmed).toBeLessThanOrEqual(stores.initialStock);
    expect(redisStock, `${productId}: Redis stock`).toBe(stores.pgStock);
  }
}

/** Samples a Deployment's replicas in the background: when spec and ready counts first met a condition. */
function watchDeployment(name: string) {
  const samples: Array<{ t: number; spec: number; ready: number; pods: number }> = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const r = await deploymentReplicas(name).catch(() => undefined);
      const pods = await workerPods().catch(() => undefined);
      if (r && pods) samples.push({ t: Date.now(), ...r, pods: pods.filter((p) => !p.deleting).length });
      await new Promise((res) => setTimeout(res, 250));
    }
  })();
  return {
    samples,
    first: (pred: (s: { spec: number; ready: number; pods: number }) => boolean, after = 0) => samples.find((s) => s.t >= after && pred(s))?.t,
    stop: async () => { running = false; await loop; },
  };
}

beforeAll(async () => {
  await Promise.all([admin.connect(), redis.connect()]);
  await createNamespace(ns);
  valuesFile = nodeValues(cluster, ns, {
    // Only this namespace: another release on the node (install.test.ts) never reconciles these sales.
    // The chart's own operator requests and startup probe (200m, 5 min) survive a restart mid-test
    // on a loaded node (at the former 50m / 60 s an operator crash-looped here).
    operator: { replicaCount: 2, watchNamespaces: [ns], extraEnv: { LAG_POLL_SECONDS: '1' } },
  });
  const seconds = await installRelease(ns, release, valuesFile);
  installed = true;
  baseUrl = `http://${cluster.nodeIp}:${await nodePortOf(ns, `${release}-api`)}`;
  log(`helm install --wait: ${seconds} s; API at ${baseUrl}`);
});

afterAll(async () => {
  if (installed) {
    await kubectl(['delete', 'flashsales.fluxgate.io', '--all', '-n', ns, '--wait=true', '--timeout=120s']).catch((e: Error) => log(e.message));
    await helm(['uninstall', release, '-n', ns, '--wait', '--timeout', '5m']).catch((e: Error) => log(e.message));
  }
  await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch((e: Error) => log(e.message));
  await Promise.allSettled([admin.disconnect(), redis.quit()]);
});

describe('operations on the local node (one install)', () => {
  it('scales the worker Deployment from 0 on a backlog, the new pods join the group and drain it, then back to 0', async () => {
    const products = productsOnDistinctPartitions('lag', PARTITIONS);
    // Workers stay stopped until the backlog passes activationLag; then ceil(lag / 40) > 3 asks
    // for one pod per partition at once. 20 s of stabilization: every pod joins before the way down.
    const activationLag = 300;
    const workers = { minReplicas: 0, maxReplicas: PARTITIONS, lagPerReplica: 40, activationLag, scaleDownStabilizationSeconds: 20 };
    for (const [i, p] of products.entries()) await applySale(`lag-${i}`, p, 1000, workers);
    // No lag, minReplicas 0: the operator takes the Deployment (1 replica from the chart) to 0.
    await waitFor('worker Deployment at 0 with no pod left', 180_000, async () =>
      (await deploymentReplicas(workerDeployment)).spec === 0 && (await workerPods()).length === 0 ? true : undefined, () => podsSummary(ns));

    const watch = watchDeployment(workerDeployment);
    const members = new Set<string>();
    let memberPeak = 0;
    let backlogAt: number | undefined;
    let sampling = true;
    // Kafka's own view, sampled: when the backlog passed activationLag, and who is in the group.
    const kafkaLoop = (async () => {
      while (sampling) {
        const [lag, hosts] = await Promise.all([kafkaLag().catch(() => 0), groupMemberHosts().catch(() => [])]);
        if (backlogAt === undefined && lag > activationLag) backlogAt = Date.now();
        hosts.forEach((h) => members.add(h));
        memberPeak = Math.max(memberPeak, hosts.length);
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    const t0 = Date.now();
    const stream = orderStream(baseUrl, products, 16, { limit: 600 });
    await stream.done;
    const tSent = Date.now();
    log(`lag scaling: ${stream.answers.length} orders sent ${JSON.stringify(byStatus(stream.answers))}`);
    const tUp = await waitFor('scale-up from 0', 120_000, async () => watch.first((s) => s.spec > 0));
    const tBacklog = await waitFor('the backlog seen past activationLag in Kafka', 10_000, async () => backlogAt);
    const peakSpec = Math.max(...watch.samples.map((s) => s.spec));
    log(`lag scaling: scaled up to ${peakSpec}, backlog seen ${tUp - tBacklog} ms before`);
    const tReady = await waitFor(`${peakSpec} pods Ready`, 300_000, async () => watch.first((s) => s.ready >= peakSpec), () => podsSummary(ns));
    log(`lag scaling: ${peakSpec} pods Ready`);
    const tLag0 = await drained(stream.answers, products);
    log('lag scaling: drained');
    const tDown = await waitFor('scaled back to 0, no worker pod', 300_000, async () => {
      const r = await deploymentReplicas(workerDeployment);
      return r.spec === 0 && (await workerPods()).length === 0 ? Date.now() : undefined;
    }, () => podsSummary(ns));
    sampling = false;
    await Promise.all([kafkaLoop, watch.stop()]);

    const times = {
      orders: { sent: stream.answers.length, statuses: byStatus(stream.answers), seconds: (tSent - t0) / 1000 },
      backlogToScaleUpS: (tUp - tBacklog) / 1000,
      scaleUpToPodsReadyS: (tReady - tUp) / 1000,
      podsReadyToLag0S: Math.max(0, tLag0 - tReady) / 1000,
      backlogToLag0S: (tLag0 - tBacklog) / 1000,
      lag0ToScaledDownS: (tDown - tLag0) / 1000,
      peakReplicas: peakSpec,
      groupMembersPeak: memberPeak,
      memberHosts: [...members],
      loadavg: loadavg().map((l) => Number(l.toFixed(1))),
    };
    log(`lag scaling: ${JSON.stringify(times)}`);
    expect(stream.answers.filter((a) => a.status !== 200)).toEqual([]);
    // Straight from 0 to one pod per partition: the backlog was past activationLag when first seen.
    expect(watch.samples.find((s) => s.spec > 0)?.spec).toBe(PARTITIONS);
    // The new pods joined the consumer group, all at once (Kafka's member list; their traffic
    // leaves the node masqueraded, so the members' host is the node's address, not the pod's).
    expect(memberPeak).toBe(PARTITIONS);
    expect([...members]).toEqual([cluster.nodeIp]);
    await expectSettled('lag scaling', stream.answers, products);
    await deleteSales();
  });

  it('loses nothing and applies nothing twice when worker pods are deleted mid-stream (SIGTERM, then SIGKILL)', async () => {
    const products = productsOnDistinctPartitions('wkill', PARTITIONS);
    for (const [i, p] of products.entries()) await applySale(`wkill-${i}`, p, 5000, { minReplicas: 2, maxReplicas: PARTITIONS, lagPerReplica: 100_000, scaleDownStabilizationSeconds: 5 });
    await waitFor('2 worker pods Ready in the group', 300_000, async () => {
      const pods = (await workerPods()).filter((p) => p.ready && !p.deleting);
      return pods.length === 2 && (await groupMemberHosts()).length === 2 ? true : undefined;
    }, () => podsSummary(ns));
    const stream = orderStream(baseUrl, products, 6, { pauseMs: 20 });
    const acceptedCount = () => stream.answers.filter((a) => a.status === 200).length;
    const atLeast = (n: number) => waitFor(`${n} orders accepted`, 180_000, async () => (acceptedCount() >= n ? true : undefined));

    await atLeast(150);
    const [graceful] = (await workerPods()).filter((p) => p.ready && !p.deleting);
    await kubectl(['delete', 'pod', graceful!.name, '-n', ns, '--wait=false']);
    await atLeast(acceptedCount() + 150);
    const [killed] = (await workerPods()).filter((p) => p.ready && !p.deleting && p.name !== graceful!.name);
    await kubectl(['delete', 'pod', killed!.name, '-n', ns, '--grace-period=0', '--force', '--wait=false']);
    await waitFor('2 worker pods Ready again', 300_000, async () =>
      (await workerPods()).filter((p) => p.ready && !p.deleting && p.name !== graceful!.name && p.name !== killed!.name).length === 2 ? true : undefined,
    () => podsSummary(ns));
    await atLeast(acceptedCount() + 150);
    const answers = await stream.stop();
    await drained(answers, products);
    log(`worker pods deleted (${graceful!.name} SIGTERM, ${killed!.name} SIGKILL): answers ${JSON.stringify(byStatus(answers))}`);
    await expectSettled('worker kill', answers, products);
    await deleteSales();
  });

  it('finishes a recovery when the leading operator pod is deleted in the middle of it: the standby takes over, no 200 ends rejected', async () => {
    const [productId] = productsOnDistinctPartitions('recov', 1);
    const name = 'recov';
    // Workers stay at 0 behind a backlog (activationLag far above it) until the recovery needs the
    // drain: the recovery then waits for a pod to start, a window to delete the leader in.
    await applySale(name, productId!, 5000, { minReplicas: 0, maxReplicas: 1, activationLag: 1_000_000, scaleDownStabilizationSeconds: 5 });
    await waitFor('worker Deployment at 0 with no pod left', 180_000, async () =>
      (await deploymentReplicas(workerDeployment)).spec === 0 && (await workerPods()).length === 0 ? true : undefined, () => podsSummary(ns));
    const before = (await saleStatus(name)).recovery?.count ?? 0;
    const lease = `${release}-operator`;
    const stream = orderStream(baseUrl, [productId!], 3, { pauseMs: 30 });
    await waitFor('a backlog of 150 accepted orders', 120_000, async () => (stream.answers.filter((a) => a.status === 200).length >= 150 ? true : undefined));

    // Redis loses the sale (its keys are deleted): the operator closes the gate and recovers.
    const keys = await redis.keys(saleKeys(productId!).pattern);
    const lostAt = Date.now();
    await redis.del(...keys);
    await waitFor('phase Recovering', 120_000, async () => ((await saleStatus(name)).phase === 'Recovering' ? true : undefined));
    const leader = (await kubectlJson(['get', 'lease', lease, '-n', ns])).spec;
    const killAt = Date.now();
    await kubectl(['delete', 'pod', leader.holderIdentity, '-n', ns, '--wait=false']);
    const atKill = await saleStatus(name);
    const newHolder = await waitFor('another operator pod holds the Lease', 120_000, async () => {
      const h = (await kubectlJson(['get', 'lease', lease, '-n', ns])).spec.holderIdentity as string | undefined;
      return h && h !== leader.holderIdentity ? h : undefined;
    });
    const takeoverAt = Date.now();
    const recovered = await waitFor('recovery finished by the new leader', 300_000, async () => {
      const s = await saleStatus(name);
      return (s.recovery?.count ?? 0) > before && s.phase === 'Active' ? s : undefined;
    }, async () => `${JSON.stringify(await saleStatus(name))}\n${await podsSummary(ns)}`);
    const recoveredAt = Date.now();
    await waitFor('an order accepted after the recovery', 120_000, async () => (stream.answers.some((a) => a.sentAt > recoveredAt && a.status === 200) ? true : undefined));
    const answers = await stream.stop();
    // Past the recovery the workers go back to 0 (activationLag far above the backlog), and the
    // recovery of lost keys now lasts RECOVERY_IN_FLIGHT_WAIT_SECONDS, so its drain pod is gone
    // before the orders accepted since are read: let the backlog activate a worker again.
    await kubectl(['patch', 'flashsales.fluxgate.io', name, '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { workers: { activationLag: 0 } } })]);
    await drained(answers, [productId!]);

    const during = answers.filter((a) => a.sentAt > lostAt && a.at < recoveredAt && a.status !== 200);
    log(`operator failover mid-recovery: ${JSON.stringify({
      phaseAtKill: atKill.phase, leaseDurationSeconds: leader.leaseDurationSeconds, from: leader.holderIdentity, to: newHolder,
      takeoverS: (takeoverAt - killAt) / 1000, killToRecoveredS: (recoveredAt - killAt) / 1000, lossToRecoveredS: (recoveredAt - lostAt) / 1000,
      recovery: recovered.recovery, answers: byStatus(answers), duringRecovery: byStatus(during),
    })}`);
    expect(atKill.phase).toBe('Recovering'); // the leader died with the recovery in progress
    expect(newHolder).not.toBe(leader.holderIdentity);
    expect(recovered.recovery.count).toBe(before + 1);
    // While the gate was closed: 503 with Retry-After, never sold out, never a failure.
    for (const a of during) expect([a.status, a.retryAfter !== null]).toEqual([503, true]);
    await expectSettled('operator failover', answers, [productId!]);
    await deleteSales();
  });

  it('rolls every pod on `helm upgrade` with a changed value while a client hammers the API Service: no failed request', async () => {
    const [productId] = productsOnDistinctPartitions('upgrade', 1);
    upgradeProduct = productId!;
    await applySale('upgrade', productId!, 1_000_000, { minReplicas: 1, maxReplicas: 1 });
    const podsBefore = (await kubectlJson<{ items: any[] }>(['get', 'pods', '-n', ns])).items.map((p) => p.metadata.name as string);
    const stream = orderStream(baseUrl, [productId!], 8);
    await waitFor('orders flowing', 60_000, async () => (stream.answers.length >= 50 ? true : undefined));
    const t0 = Date.now();
    await helm(['upgrade', release, CHART, '-n', ns, '--values', valuesFile, '--set', 'logLevel=debug', '--wait', '--timeout', '10m']);
    const upgradeS = (Date.now() - t0) / 1000;
    // Past the last terminating pod's grace period, so its drain is inside the window.
    await waitFor('old pods gone', 180_000, async () => {
      const now = (await kubectlJson<{ items: any[] }>(['get', 'pods', '-n', ns])).items.map((p) => p.metadata.name as string);
      return now.some((n) => podsBefore.includes(n)) ? undefined : true;
    }, () => podsSummary(ns));
    const answers = await stream.stop();
    await drained(answers, [productId!]);

    const api = await kubectlJson(['get', 'deployment', `${release}-api`, '-n', ns]);
    const logLevelEnv = api.spec.template.spec.containers[0].env.find((e: any) => e.name === 'LOG_LEVEL')?.value;
    const failed = answers.filter((a) => a.status === 0 || (a.status >= 500 && !(a.status === 503 && a.retryAfter !== null)));
    const documented503 = answers.filter((a) => a.status === 503 && a.retryAfter !== null).length;
    log(`helm upgrade under load: ${JSON.stringify({ upgradeS, requests: answers.length, statuses: byStatus(answers), failed: failed.length, documented503 })}`);
    if (failed.length > 0) log(`failed requests: ${JSON.stringify(failed.slice(0, 10))}`);
    expect(logLevelEnv).toBe('debug');
    expect(failed).toEqual([]);
    await expectSettled('helm upgrade', answers, [productId!]);
  });

  it('`helm uninstall` after the FlashSales are deleted leaves no FlashSale on its finalizer, and the namespace goes', async () => {
    // The documented order (README, Install): FlashSales first, while the operator runs to remove
    // their Redis keys and finalizers; then the release; then the namespace.
    const t0 = Date.now();
    await deleteSales();
    await helm(['uninstall', release, '-n', ns, '--wait', '--timeout', '5m']);
    installed = false;
    const left = await kubectlJson<{ items: any[] }>(['get', 'flashsales.fluxgate.io', '-n', ns]);
    await kubectl(['delete', 'namespace', ns, '--wait=true', '--timeout=180s']);
    log(`uninstall: ${JSON.stringify({ seconds: (Date.now() - t0) / 1000, flashSalesLeft: left.items.length })}`);
    expect(left.items).toEqual([]);
    // The operator removed the sale's Redis keys before letting the FlashSale go.
    expect(await redis.keys(saleKeys(upgradeProduct).pattern)).toEqual([]);
  });
});
