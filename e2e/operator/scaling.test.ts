// Worker scaling on the real consumer lag: orders accepted by the real API while no worker runs
// build up lag; the operator scales the worker Deployment (through /scale) up at once, never above
// the partitions that have lag; once a worker drains the topic it scales down one step per window.
// It leaves alone a Deployment that did not opt in, or that an HPA scales (condition + Event).
// The test control plane has no kubelet: the Deployment is only an object, its /scale is the truth.
import { randomUUID } from 'node:crypto';
import { Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startComponent, type RunningProcess } from '../support/processes.js';
import { order } from '../support/api.js';
import {
  condition, createDeployment, events, flashSale, kubectl, scaleOf, startApi, startOperator, stopAll, testbed, uniqueName,
  waitFor, waitForSale, type Backends,
} from './support.js';

const PARTITIONS = 4;

/** The partition kafkajs' default partitioner (the one the producer uses) gives a product's orders. */
function partitionOf(productId: string): number {
  const partitionMetadata = Array.from({ length: PARTITIONS }, (_, i) => ({ partitionId: i, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }));
  return Partitioners.DefaultPartitioner()({ topic: 't', partitionMetadata, message: { key: productId, value: null } });
}

/** One fresh product id per partition, so the test decides which partitions get lag. */
function productsOnEveryPartition(prefix: string): string[] {
  const byPartition = new Map<number, string>();
  for (let i = 0; byPartition.size < PARTITIONS; i++) {
    const p = uniqueName(`${prefix}${i}`);
    if (!byPartition.has(partitionOf(p))) byPartition.set(partitionOf(p), p);
  }
  return [...byPartition.keys()].sort().map((k) => byPartition.get(k)!);
}

interface KubeEvent {
  reason: string;
  message: string;
  type: string;
  count?: number;
  firstTimestamp?: string;
  source?: { component?: string };
  involvedObject: { kind: string; name: string; uid?: string };
}

async function rawEvents(kind: string, name: string): Promise<KubeEvent[]> {
  const list = JSON.parse(await kubectl(['get', 'events', '-n', ns, '-o', 'json'])) as { items: KubeEvent[] };
  return list.items
    .filter((e) => e.involvedObject.kind === kind && e.involvedObject.name === name && e.source?.component === 'flux-gate-operator')
    .sort((x, y) => (x.firstTimestamp ?? '').localeCompare(y.firstTimestamp ?? ''));
}

async function uidOf(kind: string, name: string): Promise<string> {
  return (await kubectl(['get', kind, name, '-n', ns, '-o', 'jsonpath={.metadata.uid}'])).trim();
}
let ns = '';
let b: Backends;
const procs: RunningProcess[] = [];
let apiBase = '';

beforeAll(async () => {
  const t = await testbed('scale', PARTITIONS);
  ({ ns, b } = t);
  const started = await startApi({ ...b.env, ADMIN_TOKEN: 'e2e-operator-admin-token-0123' });
  procs.push(started.api);
  apiBase = started.apiBase;
  await createDeployment(ns, 'workers', 1);
  procs.push(await startOperator(ns, t.kubeconfig, b));
}, 240_000);

afterAll(() => stopAll(procs, b));

describe('scaling the worker Deployment on consumer lag', () => {
  it('scales up at once, capped by the partitions WITH lag (one hot sale gets one worker), then down one step per window once drained', async () => {
    const workers = { deployment: 'workers', minReplicas: 1, maxReplicas: 10, lagPerReplica: 20, activationLag: 0, scaleDownStabilizationSeconds: 3 };
    const [pA, pB, pC, pD] = productsOnEveryPartition('scale-') as [string, string, string, string];
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('a', { productId: pA, stock: 1000, limits: { perUser: 100 }, workers }) });
    // A second sale naming the same Deployment with a much larger lagPerReplica: the Deployment
    // gets the larger of the two recommendations, and the two never fight.
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('b', { productId: pB, stock: 100, limits: { perUser: 100 }, workers: { ...workers, lagPerReplica: 10_000 } }) });
    // Two sales that only take orders, so that lag can be put on every partition.
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('c', { productId: pC, stock: 100, limits: { perUser: 100 } }) });
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('d', { productId: pD, stock: 100, limits: { perUser: 100 } }) });
    await waitForSale(ns, 'a', 'workers scaled', (x) => condition(x, 'WorkersScaled')?.reason === 'AsDesired' && x.status?.workers?.replicas === 1);
    for (const n of ['c', 'd']) await waitForSale(ns, n, 'selling', (x) => x.status?.phase === 'Active');
    expect(await scaleOf(ns, 'workers')).toBe(1);

    // Sample /scale all along: the count must never exceed the partitions with lag, nor skip steps going down.
    const samples: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const r = await scaleOf(ns, 'workers').catch(() => undefined);
        if (r !== undefined && r !== samples.at(-1)) samples.push(r);
        await new Promise((res) => setTimeout(res, 100));
      }
    })();
    const buy = (productId: string, n: number) =>
      Promise.all(Array.from({ length: n }, (_, i) => order(apiBase, { productId, userId: `u${i % 50}`, quantity: 1 }, randomUUID())));

    // 100 accepted orders of ONE sale, no worker: lag 100 → ceil(100/20) = 5 wanted, but all of it
    // sits on one partition, which one consumer reads: the cap is 1 (partitionsWithLag).
    expect((await buy(pA, 100)).filter((r) => r.status !== 200)).toEqual([]);
    const hot = await waitForSale(ns, 'a', 'own lag and cap in status', (x) => x.status?.workers?.lag === 100 && x.status.workers.cap === 'partitionsWithLag');
    expect(hot.status?.workers).toMatchObject({ replicas: 1, desired: 1, partition: partitionOf(pA), partitionsWithLag: 1, partitions: PARTITIONS });
    // Sale b's Lag is its own partition's, which has none (not the group's 100).
    const cold = await waitForSale(ns, 'b', 'own lag', (x) => x.status?.workers?.partitionsWithLag === 1);
    expect(cold.status?.workers).toMatchObject({ lag: 0, partition: partitionOf(pB) });
    expect(await scaleOf(ns, 'workers')).toBe(1);
    expect(samples).toEqual([1]);

    // Lag on every partition: 200 in all → 10 wanted, capped by the 4 partitions.
    const spread = await Promise.all([buy(pB, 34), buy(pC, 33), buy(pD, 33)]);
    expect(spread.flat().filter((r) => r.status !== 200)).toEqual([]);
    const lagBuiltAt = Date.now();
    await waitFor('scaled up to the partition count', async () => (await scaleOf(ns, 'workers')) === PARTITIONS || undefined, 60_000, 50);
    const scaleUpMs = Date.now() - lagBuiltAt;
    const up = await waitForSale(ns, 'a', 'cap in status', (x) => x.status?.workers?.replicas === PARTITIONS && x.status.workers.partitionsWithLag === PARTITIONS);
    expect(up.status?.workers).toMatchObject({ replicas: PARTITIONS, desired: PARTITIONS, cap: 'partitions', partitions: PARTITIONS, lag: 100 });

    // A worker drains the topic; the Deployment then steps down to minReplicas, one per window.
    const worker = await startComponent('worker', b.env, { readyTimeoutMs: 90_000 });
    procs.push(worker);
    const drainedAt = await waitFor('lag drained', async () => {
      const s = await waitForSale(ns, 'a', 'lag', () => true);
      return s.status?.workers?.lag === 0 ? Date.now() : undefined;
    }, 90_000);
    const held = await waitForSale(ns, 'a', 'holding for the window', (x) => x.status?.workers?.cap === 'stabilization' || x.status?.workers?.replicas === 1);
    await waitFor('scaled down to minReplicas', async () => (await scaleOf(ns, 'workers')) === 1 || undefined, 90_000, 100);
    const scaleDownMs = Date.now() - drainedAt;
    sampling = false;
    await sampler;
    if (samples.at(-1) !== 1) samples.push(1);

    // Up as fast as the lag grows (several steps while the 200 orders arrive), never above the
    // partitions; then down exactly one replica at a time.
    const peak = samples.indexOf(PARTITIONS);
    expect(peak).toBeGreaterThan(0);
    expect(Math.max(...samples)).toBe(PARTITIONS);
    expect(samples.slice(0, peak + 1)).toEqual([...samples.slice(0, peak + 1)].sort((x, y) => x - y));
    expect(samples[0]).toBe(1);
    expect(samples.slice(peak)).toEqual([PARTITIONS, 3, 2, 1]);
    expect(held.status?.workers?.cap === 'stabilization' || held.status?.workers?.replicas === 1).toBe(true);
    const scaled = (await rawEvents('Deployment', 'workers')).filter((e) => e.reason === 'ScaledWorkers').map((e) => e.message.replace(/:.*/, ''));
    const ups = scaled.filter((m) => m.includes(' up '));
    // (Events have one-second timestamps: quick steps up may tie, so only the last step is checked.)
    expect(ups.filter((m) => new RegExp(`^scaled workers up from \\d to ${PARTITIONS} replicas$`).test(m))).toHaveLength(1);
    expect(scaled.slice(ups.length)).toEqual([
      `scaled workers down from ${PARTITIONS} to 3 replicas`,
      'scaled workers down from 3 to 2 replicas',
      'scaled workers down from 2 to 1 replicas',
    ]);
    // one Event per change on every sale naming the Deployment
    expect((await events(ns, 'FlashSale', 'b')).filter((e) => e.reason === 'ScaledWorkers').length).toBe(scaled.length);
    // Events point at the Deployment's uid, so `kubectl describe deploy` lists them.
    const uid = await uidOf('deployment', 'workers');
    expect((await rawEvents('Deployment', 'workers')).every((e) => e.involvedObject.uid === uid)).toBe(true);
    await waitFor('kubectl describe deploy lists the Events', async () => /ScaledWorkers\s+\S+\s+flux-gate-operator\s+scaled workers down from 2 to 1 replicas/.test(await kubectl(['describe', 'deployment', 'workers', '-n', ns])) || undefined, 30_000, 1000);
    console.log(`[operator scaling] ${JSON.stringify({ scaleUpReactionMs: scaleUpMs, scaleDownToMinMs: scaleDownMs, windowSeconds: 3, steps: samples })}`);
  }, 300_000);

  it('leaves alone a Deployment that did not opt in: WorkersScaled=False NotOptedIn, one aggregated Warning Event', async () => {
    await createDeployment(ns, 'not-ours', 1, { optIn: false });
    // minReplicas 3 would scale it to 3 at once, lag or not.
    const workers = { deployment: 'not-ours', minReplicas: 3, maxReplicas: 4, lagPerReplica: 20, activationLag: 0, scaleDownStabilizationSeconds: 3 };
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('optout', { productId: uniqueName('optout'), stock: 10, workers }) });
    const s = await waitForSale(ns, 'optout', 'refused', (x) => condition(x, 'WorkersScaled')?.reason === 'NotOptedIn');
    expect(condition(s, 'WorkersScaled')).toMatchObject({ status: 'False', message: expect.stringContaining('fluxgate.io/replicas-owner') });
    expect(s.status?.workers?.replicas).toBeUndefined();
    // Several polls later (0.5 s each): still 1 replica, and ONE Event whose count grows.
    const uid = await uidOf('deployment', 'not-ours');
    const refused = await waitFor('the refusal Event aggregated', async () => {
      const evs = (await rawEvents('Deployment', 'not-ours')).filter((e) => e.reason === 'ScalingRefused');
      return evs.length === 1 && (evs[0]!.count ?? 1) >= 3 ? evs : undefined;
    }, 60_000);
    expect(refused[0]).toMatchObject({ type: 'Warning', involvedObject: { uid } });
    expect((await rawEvents('Deployment', 'not-ours')).length).toBe(1);
    expect(await scaleOf(ns, 'not-ours')).toBe(1);
    await waitFor('kubectl describe deploy shows one aggregated Warning', async () => /Warning\s+ScalingRefused\s+\S+ \(x\d+ over/.test(await kubectl(['describe', 'deployment', 'not-ours', '-n', ns])) || undefined, 30_000, 1000);
  }, 120_000);

  it('does not fight an HPA that scales the same Deployment: WorkersScaled=False AutoscalerConflict + Event', async () => {
    await createDeployment(ns, 'hpa-scaled', 1);
    const hpa = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'cpu', namespace: ns },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'hpa-scaled' },
        minReplicas: 1,
        maxReplicas: 5,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }],
      },
    };
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(hpa) });
    const workers = { deployment: 'hpa-scaled', minReplicas: 3, maxReplicas: 4, lagPerReplica: 20, activationLag: 0, scaleDownStabilizationSeconds: 3 };
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('hpa', { productId: uniqueName('hpa'), stock: 10, workers }) });
    const s = await waitForSale(ns, 'hpa', 'refused', (x) => condition(x, 'WorkersScaled')?.reason === 'AutoscalerConflict');
    expect(condition(s, 'WorkersScaled')).toMatchObject({ status: 'False', message: expect.stringContaining('HorizontalPodAutoscaler cpu') });
    await waitFor('the conflict Event', async () => (await rawEvents('FlashSale', 'hpa')).find((e) => e.reason === 'AutoscalerConflict' && e.type === 'Warning'));
    expect(await scaleOf(ns, 'hpa-scaled')).toBe(1);
    // The HPA gone, the operator takes the Deployment over.
    await kubectl(['delete', 'hpa', 'cpu', '-n', ns]);
    await waitForSale(ns, 'hpa', 'scaled once the HPA is gone', (x) => condition(x, 'WorkersScaled')?.status === 'True' && x.status?.workers?.replicas === 3);
    expect(await scaleOf(ns, 'hpa-scaled')).toBe(3);
  }, 120_000);

  it('does not fight a KEDA ScaledObject either (once the keda.sh API exists)', async () => {
    // The KEDA CRD, reduced to what the operator reads (the rest is preserved as unknown fields).
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'scaledobjects.keda.sh' },
      spec: {
        group: 'keda.sh',
        scope: 'Namespaced',
        names: { plural: 'scaledobjects', singular: 'scaledobject', kind: 'ScaledObject', listKind: 'ScaledObjectList' },
        versions: [{ name: 'v1alpha1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    };
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(crd) });
    await waitFor('the keda.sh API served', async () => (await kubectl(['api-resources', '--api-group=keda.sh']).catch(() => '')).includes('scaledobjects') || undefined, 60_000, 500);
    await createDeployment(ns, 'keda-scaled', 1);
    const so = { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: { name: 'kafka', namespace: ns }, spec: { scaleTargetRef: { name: 'keda-scaled' }, triggers: [{ type: 'kafka' }] } };
    await kubectl(['apply', '-f', '-'], { input: JSON.stringify(so) });
    const workers = { deployment: 'keda-scaled', minReplicas: 3, maxReplicas: 4, lagPerReplica: 20, activationLag: 0, scaleDownStabilizationSeconds: 3 };
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('keda', { productId: uniqueName('keda'), stock: 10, workers }) });
    const s = await waitForSale(ns, 'keda', 'refused', (x) => condition(x, 'WorkersScaled')?.reason === 'AutoscalerConflict');
    expect(condition(s, 'WorkersScaled')?.message).toContain('KEDA ScaledObject kafka');
    expect(await scaleOf(ns, 'keda-scaled')).toBe(1);
  }, 120_000);
});
