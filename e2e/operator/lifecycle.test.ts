// The operator against the real kube-apiserver, Redis, PostgreSQL and Kafka, running with a
// ServiceAccount token bound to its own ClusterRole: seeding and status, restock applied exactly
// once across operator restarts, lowering refused below what is sold, pause, delete + finalizer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saleKeys } from '../../core/redis/keys.js';
import type { RunningProcess } from '../support/processes.js';
import {
  condition, events, flashSale, getSale, kubectl, kubectlFails, startOperator, stopGracefully, testbed, uniqueName, waitFor,
  waitForSale, type Backends,
} from './support.js';

let ns = '';
let kubeconfig = '';
let b: Backends;
let operator: RunningProcess | undefined;

beforeAll(async () => {
  ({ ns, kubeconfig, b } = await testbed('life'));
  operator = await startOperator(ns, kubeconfig, b);
}, 180_000);

afterAll(async () => {
  await stopGracefully(operator);
  await b?.close();
});

const productRow = async (id: string) =>
  (await b.pool.query<{ stock: number; initial_stock: number }>('SELECT stock, initial_stock FROM products WHERE id = $1', [id])).rows[0];
const redisStock = async (id: string) => {
  const v = await b.redis.get(saleKeys(id).stock);
  return v === null ? null : Number(v);
};

describe('operator identity', () => {
  it('acts with its ServiceAccount token, which is not cluster admin', async () => {
    expect(await kubectl(['auth', 'can-i', 'patch', 'flashsales.fluxgate.io', '--subresource=status', '-n', ns], { kubeconfig })).toBe('yes\n');
    expect(await kubectl(['auth', 'can-i', 'update', 'deployments.apps', '--subresource=scale', '-n', ns], { kubeconfig })).toBe('yes\n');
    expect(await kubectl(['auth', 'can-i', 'update', 'leases.coordination.k8s.io', '-n', ns], { kubeconfig })).toBe('yes\n');
    for (const forbidden of [['get', 'secrets'], ['delete', 'flashsales.fluxgate.io'], ['update', 'deployments.apps'], ['create', 'pods'], ['list', 'namespaces']]) {
      // `auth can-i` answers "no" with exit code 1
      const out = await kubectlFails(['auth', 'can-i', ...forbidden, '-n', ns], { kubeconfig });
      expect(out, forbidden.join(' ')).toContain('failed (exit 1)');
    }
  });
});

describe('a FlashSale through its life', () => {
  const name = 'drop';
  const productId = uniqueName('life');

  it('creates the product row, seeds Redis from it and fills in the status', async () => {
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale(name, { productId, stock: 40, limits: { perUser: 2 } }) });
    const s = await waitForSale(ns, name, 'Ready', (x) => condition(x, 'Ready')?.status === 'True');
    expect(s.metadata.finalizers).toEqual(['fluxgate.io/redis-keys']);
    expect(s.status).toMatchObject({
      observedGeneration: s.metadata.generation,
      phase: 'Active',
      stock: { allocated: 40, postgres: 40, redis: 40, remaining: 40, sold: 0 },
      redis: { epoch: 1 },
    });
    expect(s.status?.redis?.runId).toMatch(/^[0-9a-f]{40}$/);
    const types = s.status?.conditions?.map((c) => `${c.type}=${c.status}`);
    expect(types).toEqual(['Ready=True', 'StockSeeded=True', 'WorkersScaled=True', 'Consistent=True', 'MetricsAvailable=True']);
    expect(await productRow(productId)).toEqual({ stock: 40, initial_stock: 40 });
    expect(await redisStock(productId)).toBe(40);
    expect(await b.redis.hget(saleKeys(productId).meta, 'perUserLimit')).toBe('2');
    const cols = (await kubectl(['get', 'fs', name, '-n', ns, '--no-headers'])).trim().split(/\s+/);
    expect(cols.slice(0, 5)).toEqual([name, 'Active', '40', '0', '0']); // NAME PHASE REMAINING SOLD LAG (no WORKERS: not configured)
    expect((await events(ns, 'FlashSale', name)).map((e) => e.reason)).toEqual(expect.arrayContaining(['ProductCreated', 'Seeded']));
  });

  it('serves /healthz, /readyz (says it leads) and /metrics', async () => {
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${operator!.port}${path}`);
      return { status: res.status, text: await res.text() };
    };
    expect((await get('/healthz')).status).toBe(200);
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toMatchObject({ status: 'ready', leader: true, informerSynced: true });
    const metrics = (await get('/metrics')).text;
    expect(metrics).toMatch(/^fluxgate_operator_reconciles_total\{result="success"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^fluxgate_operator_leader 1$/m);
    expect(metrics).toMatch(new RegExp(`^fluxgate_operator_consumer_lag\\{flashsale_namespace="${ns}",flashsale="${name}"\\} 0$`, 'm'));
    // a phase and a Ready series per sale, and no operator series with a label named namespace
    expect(metrics).toMatch(new RegExp(`^fluxgate_operator_flashsale_phase\\{flashsale_namespace="${ns}",flashsale="${name}",phase="Active"\\} 1$`, 'm'));
    expect(metrics).toMatch(new RegExp(`^fluxgate_operator_flashsale_ready\\{flashsale_namespace="${ns}",flashsale="${name}",reason="[A-Za-z]+"\\} 1$`, 'm'));
    expect(metrics.split('\n').filter((l) => /^fluxgate_operator_\w+\{(.*,)?namespace=/.test(l))).toEqual([]);
    expect(metrics).toContain('fluxgate_operator_reconcile_duration_seconds_bucket');
  });

  it('restock: raising spec.stock adds the difference once, even across operator restarts', async () => {
    // sell 3 units the way the worker would: PostgreSQL and Redis both go down by 3
    await b.pool.query('UPDATE products SET stock = stock - 3 WHERE id = $1', [productId]);
    await b.redis.decrby(saleKeys(productId).stock, 3);
    await kubectl(['patch', 'fs', name, '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { stock: 50 } })]);
    await waitForSale(ns, name, 'restocked', (x) => x.status?.stock?.allocated === 50 && x.status.stock.redis === 47 && x.status.observedGeneration === x.metadata.generation);
    expect(await productRow(productId)).toEqual({ stock: 47, initial_stock: 50 });
    expect(await redisStock(productId)).toBe(47);
    // restart the operator twice: nothing is added again
    for (let i = 0; i < 2; i++) {
      await stopGracefully(operator);
      operator = await startOperator(ns, kubeconfig, b);
      await waitFor('a reconcile by the new operator', async () => operator!.lines.some((l) => l.includes('became the leader')) || undefined);
      await kubectl(['annotate', 'fs', name, '-n', ns, '--overwrite', `e2e/poke=${i}`]);
      await waitForSale(ns, name, 'reconciled again', (x) => condition(x, 'Ready')?.status === 'True');
    }
    expect(await productRow(productId)).toEqual({ stock: 47, initial_stock: 50 });
    expect(await redisStock(productId)).toBe(47);
    const restocks = (await events(ns, 'FlashSale', name)).filter((e) => e.reason === 'Restocked');
    // (a repeat would be the same Event with a higher count: the count must stay 1)
    expect(restocks.map((e) => [e.message, e.count ?? 1])).toEqual([['allocation raised from 40 to 50: 10 units added', 1]]);
  });

  it('lowering spec.stock below what is sold is refused with a condition; the sale goes on', async () => {
    await b.pool.query('UPDATE products SET stock = stock - 7 WHERE id = $1', [productId]); // 10 sold in all
    await b.redis.decrby(saleKeys(productId).stock, 7);
    await kubectl(['patch', 'fs', name, '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { stock: 9 } })]);
    const s = await waitForSale(ns, name, 'refusal', (x) => condition(x, 'Ready')?.reason === 'StockBelowSold');
    expect(condition(s, 'Ready')).toMatchObject({ status: 'False', message: 'spec.stock 9 is below what is already sold; keeping the allocation of 50' });
    expect(s.status?.phase).toBe('Active');
    expect(await productRow(productId)).toEqual({ stock: 40, initial_stock: 50 });
    expect((await events(ns, 'FlashSale', name)).some((e) => e.reason === 'StockBelowSold' && e.type === 'Warning')).toBe(true);
  });

  it('lowering above what is sold goes through gate and drain, then holds everywhere', async () => {
    await kubectl(['patch', 'fs', name, '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { stock: 30 } })]);
    const s = await waitForSale(ns, name, 'lowered', (x) => x.status?.stock?.allocated === 30 && x.status.phase === 'Active');
    expect(s.status?.stock).toMatchObject({ postgres: 20, redis: 20, sold: 10 });
    expect(await productRow(productId)).toEqual({ stock: 20, initial_stock: 30 });
    expect(await redisStock(productId)).toBe(20);
    expect(condition(s, 'Ready')?.status).toBe('True');
  });

  it('pause closes the gate, unpause reopens it', async () => {
    await kubectl(['patch', 'fs', name, '-n', ns, '--type=merge', '-p', '{"spec":{"paused":true}}']);
    await waitForSale(ns, name, 'Paused', (x) => x.status?.phase === 'Paused');
    expect(await b.redis.hget(saleKeys(productId).meta, 'state')).toBe('paused');
    await kubectl(['patch', 'fs', name, '-n', ns, '--type=merge', '-p', '{"spec":{"paused":false}}']);
    await waitForSale(ns, name, 'Active', (x) => x.status?.phase === 'Active');
    expect(await b.redis.hget(saleKeys(productId).meta, 'state')).toBe('open');
  });

  it('audit: a leaked unit (Redis below PostgreSQL at lag 0) is reported with both numbers and repaired', async () => {
    const before = (await getSale(ns, name))!.status!.recovery!.count!;
    await b.redis.decrby(saleKeys(productId).stock, 1); // an API pod died between reservation and produce
    const s = await waitForSale(ns, name, 'repaired', (x) => x.status?.recovery?.count === before + 1 && x.status.phase === 'Active');
    expect(s.status?.recovery?.reason).toBe('AuditMismatch');
    expect(await redisStock(productId)).toBe(20);
    expect(condition(s, 'Consistent')?.status).toBe('True');
    const warned = (await events(ns, 'FlashSale', name)).filter((e) => e.reason === 'Inconsistent').map((e) => e.message);
    expect(warned).toEqual([expect.stringMatching(/^Redis holds 19 units but PostgreSQL 20, with no order in flight \(two reads \d+ s apart\); reseeding Redis from PostgreSQL$/)]);
  });

  it('a second FlashSale for the same product is refused and never touches it', async () => {
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('copy', { productId, stock: 999 }) });
    const s = await waitForSale(ns, 'copy', 'ProductClaimed', (x) => condition(x, 'Ready')?.reason === 'ProductClaimed');
    expect(condition(s, 'Ready')?.message).toBe(`productId ${productId} is already sold by FlashSale ${ns}/${name}; this one is ignored`);
    await kubectl(['delete', 'fs', 'copy', '-n', ns, '--wait=true', '--timeout=60s']);
    expect(await productRow(productId)).toEqual({ stock: 20, initial_stock: 30 });
    expect(await redisStock(productId)).toBe(20);
  });

  it('delete: the finalizer removes every Redis key of the sale, PostgreSQL keeps its data', async () => {
    await b.redis.set(saleKeys(productId).user('u1'), '1');
    await kubectl(['delete', 'fs', name, '-n', ns, '--wait=true', '--timeout=60s']);
    expect(await getSale(ns, name)).toBeUndefined();
    expect(await b.redis.keys(saleKeys(productId).pattern)).toEqual([]);
    expect(await productRow(productId)).toEqual({ stock: 20, initial_stock: 30 });
  });
});

describe('the sale window moves the phase on time', () => {
  it('Pending until startsAt, Active inside, Ended at endsAt', async () => {
    const now = Date.now();
    const startsAt = new Date(Math.ceil((now + 4_000) / 1000) * 1000).toISOString();
    const endsAt = new Date(Math.ceil((now + 8_000) / 1000) * 1000).toISOString();
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('window', { productId: uniqueName('win'), stock: 5, startsAt, endsAt }) });
    const seen = new Set<string>();
    await waitFor('phases Pending, Active, Ended in turn', async () => {
      const p = (await getSale(ns, 'window'))?.status?.phase;
      if (p) seen.add(p);
      return p === 'Ended' || undefined;
    }, 60_000, 100);
    expect([...seen]).toEqual(['Pending', 'Active', 'Ended']);
  });
});
