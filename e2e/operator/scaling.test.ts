// Worker scaling on the real consumer lag: orders accepted by the real API while no worker runs
// build up lag; the operator scales the worker Deployment (through /scale) up at once, never above
// the partition count; once a worker drains the topic it scales down one step per window.
// The test control plane has no kubelet: the Deployment is only an object, its /scale is the truth.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startComponent, type RunningProcess } from '../support/processes.js';
import { order } from '../support/api.js';
import {
  applyCrd, backends, condition, createDeployment, createNamespace, events, flashSale, kubectl, operatorKubeconfig, scaleOf,
  startOperator, uniqueName, waitFor, waitForSale, type Backends,
} from './support.js';

const PARTITIONS = 4;
let ns = '';
let b: Backends;
const procs: RunningProcess[] = [];
let apiBase = '';

beforeAll(async () => {
  await applyCrd();
  ns = await createNamespace('op-scale');
  const kubeconfig = await operatorKubeconfig(ns);
  b = await backends('scale', PARTITIONS);
  const api = await startComponent('api', { ...b.env, PORT: '0', HOST: '127.0.0.1', ADMIN_TOKEN: 'e2e-operator-admin-token-0123' }, { readyTimeoutMs: 90_000 });
  procs.push(api);
  apiBase = `http://127.0.0.1:${api.port}`;
  await createDeployment(ns, 'workers', 1);
  procs.push(await startOperator(ns, kubeconfig, b));
}, 240_000);

afterAll(async () => {
  for (const p of procs.reverse()) await p.stop();
  await b?.close();
});

describe('scaling the worker Deployment on consumer lag', () => {
  it('scales up at once to the partition count on built-up lag, and down one step per window once drained', async () => {
    const workers = { deployment: 'workers', minReplicas: 1, maxReplicas: 10, lagPerReplica: 20, activationLag: 0, scaleDownStabilizationSeconds: 3 };
    const pA = uniqueName('scale-a');
    const pB = uniqueName('scale-b');
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('a', { productId: pA, stock: 1000, limits: { perUser: 100 }, workers }) });
    // A second sale naming the same Deployment with a much larger lagPerReplica: the Deployment
    // gets the larger of the two recommendations, and the two never fight.
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('b', { productId: pB, stock: 10, workers: { ...workers, lagPerReplica: 10_000 } }) });
    await waitForSale(ns, 'a', 'workers scaled', (x) => condition(x, 'WorkersScaled')?.reason === 'AsDesired' && x.status?.workers?.replicas === 1);
    expect(await scaleOf(ns, 'workers')).toBe(1);

    // Sample /scale all along: the count must never exceed the partitions, nor skip steps going down.
    const samples: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const r = await scaleOf(ns, 'workers').catch(() => undefined);
        if (r !== undefined && r !== samples.at(-1)) samples.push(r);
        await new Promise((res) => setTimeout(res, 100));
      }
    })();

    // 200 accepted orders, no worker: lag 200 → ceil(200/20) = 10, capped by 4 partitions.
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => order(apiBase, { productId: pA, userId: `u${i % 50}`, quantity: 1 }, randomUUID())),
    );
    expect(results.filter((r) => r.status === 200).length).toBe(200);
    const lagBuiltAt = Date.now();
    await waitFor('scaled up to the partition count', async () => (await scaleOf(ns, 'workers')) === PARTITIONS || undefined, 60_000, 50);
    const scaleUpMs = Date.now() - lagBuiltAt;
    const up = await waitForSale(ns, 'a', 'cap in status', (x) => x.status?.workers?.replicas === PARTITIONS && x.status.workers.lag === 200);
    expect(up.status?.workers).toMatchObject({ replicas: PARTITIONS, desired: PARTITIONS, cap: 'partitions', partitions: PARTITIONS, lag: 200 });
    expect(up.status?.workers?.partitions).toBe(PARTITIONS);

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
    expect(samples.slice(peak)).toEqual([PARTITIONS, 3, 2, 1]);
    expect(held.status?.workers?.cap === 'stabilization' || held.status?.workers?.replicas === 1).toBe(true);
    const scaled = (await events(ns, 'Deployment', 'workers')).filter((e) => e.reason === 'ScaledWorkers').map((e) => e.message.replace(/:.*/, ''));
    const ups = scaled.filter((m) => m.includes(' up '));
    expect(ups.at(-1)).toMatch(new RegExp(`^scaled workers up from \\d to ${PARTITIONS} replicas$`));
    expect(scaled.slice(ups.length)).toEqual([
      `scaled workers down from ${PARTITIONS} to 3 replicas`,
      'scaled workers down from 3 to 2 replicas',
      'scaled workers down from 2 to 1 replicas',
    ]);
    // one Event per change on every sale naming the Deployment
    expect((await events(ns, 'FlashSale', 'b')).filter((e) => e.reason === 'ScaledWorkers').length).toBe(scaled.length);
    console.log(`[operator scaling] ${JSON.stringify({ scaleUpReactionMs: scaleUpMs, scaleDownToMinMs: scaleDownMs, windowSeconds: 3, steps: samples })}`);
  }, 300_000);
});
