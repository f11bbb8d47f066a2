// Two operator replicas: only the Lease holder acts; kill it (SIGKILL, no release) and the other
// takes over once the Lease expires. Recoveries that span leader changes finish correctly.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { saleKeys } from '../../core/redis/keys.js';
import { order } from '../support/api.js';
import { startComponent, type RunningProcess } from '../support/processes.js';
import { condition, flashSale, kubectl, startOperator, testbed, uniqueName, waitFor, waitForSale, type Backends } from './support.js';

let ns = '';
let kubeconfig = '';
let b: Backends;
const procs: RunningProcess[] = [];

beforeAll(async () => {
  ({ ns, kubeconfig, b } = await testbed('leader'));
}, 180_000);

afterAll(async () => {
  for (const p of procs) {
    p.child.kill('SIGCONT');
    await p.stop();
  }
  await b?.close();
});

const holder = async () => {
  const lease = JSON.parse(await kubectl(['get', 'lease', 'flux-gate-operator', '-n', ns, '-o', 'json'])) as { spec: { holderIdentity?: string; leaseTransitions?: number } };
  return lease.spec;
};
const acted = (p: RunningProcess, sale: string) => p.lines.some((l) => l.includes('"msg":"seeded Redis from PostgreSQL"') && l.includes(sale));

describe('leader election', () => {
  it('only the Lease holder acts; when it dies the other takes over', async () => {
    const one = await startOperator(ns, kubeconfig, b, { OPERATOR_IDENTITY: 'operator-one' });
    procs.push(one);
    await waitFor('operator-one leads', async () => (await holder()).holderIdentity === 'operator-one' || undefined);
    const two = await startOperator(ns, kubeconfig, b, { OPERATOR_IDENTITY: 'operator-two' });
    procs.push(two);

    const first = uniqueName('lead-1');
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('first', { productId: first, stock: 3 }) });
    await waitForSale(ns, 'first', 'Ready', (x) => condition(x, 'Ready')?.status === 'True');
    expect(acted(one, first)).toBe(true);
    expect(acted(two, first)).toBe(false);
    expect(two.lines.some((l) => l.includes('became the leader'))).toBe(false);

    await one.stop('SIGKILL'); // no release: the standby must wait for the Lease to expire
    const killedAt = Date.now();
    await waitFor('operator-two leads', async () => (await holder()).holderIdentity === 'operator-two' || undefined, 60_000, 100);
    const takeoverMs = Date.now() - killedAt;
    expect((await holder()).leaseTransitions).toBe(1);

    const second = uniqueName('lead-2');
    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('second', { productId: second, stock: 3 }) });
    await waitForSale(ns, 'second', 'Ready', (x) => condition(x, 'Ready')?.status === 'True');
    expect(acted(two, second)).toBe(true);

    // A clean shutdown releases the Lease: a new replica leads at once.
    await two.stop('SIGTERM');
    expect((await holder()).holderIdentity).toBeUndefined();
    console.log(`[operator leader] ${JSON.stringify({ takeoverAfterSigkillMs: takeoverMs, leaseDurationSeconds: 4 })}`);
  }, 180_000);
});

// Defect 4: a replica that led during an earlier recovery must not reuse that recovery's drain
// barrier when it leads again. Operator A captures a barrier in recovery 1 and is frozen (SIGSTOP);
// B finishes recovery 1. Orders then pile up unpersisted (worker frozen), recovery 2 starts under B,
// and B is killed: A leads again in the middle of recovery 2. Reusing its barrier of recovery 1 (the
// workers are long past it), A would reseed at once with those orders not yet in PostgreSQL, and
// sell them twice. Every 200 must end confirmed, and no more than the stock.
describe('a recovery spanning leader changes', () => {
  it('resumes from the status: the old leader never reuses a barrier of an earlier term', async () => {
    const productId = uniqueName('span');
    const stock = 40;
    const worker = await startComponent('worker', b.env, { readyTimeoutMs: 90_000 });
    procs.push(worker);
    const api = await startComponent('api', { ...b.env, PORT: '0', HOST: '127.0.0.1', PRODUCT_LOOKUP_CACHE_MS: '200' }, { readyTimeoutMs: 90_000 });
    procs.push(api);
    const base = `http://127.0.0.1:${api.port}`;
    const a = await startOperator(ns, kubeconfig, b, { OPERATOR_IDENTITY: 'operator-a' });
    procs.push(a);
    await waitFor('operator-a leads', async () => (await holder()).holderIdentity === 'operator-a' || undefined, 60_000, 100);
    const bOp = await startOperator(ns, kubeconfig, b, { OPERATOR_IDENTITY: 'operator-b' });
    procs.push(bOp);

    await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('span', { productId, stock }) });
    await waitForSale(ns, 'span', 'Active', (x) => x.status?.phase === 'Active');
    const accepted: string[] = [];
    let user = 0;
    const buy = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const r = await order(base, { productId, userId: `span-${user++}`, quantity: 1 }, randomUUID());
        if (r.status === 200) accepted.push((r.body as { orderId: string }).orderId);
      }
    };
    const barrierLines = (p: RunningProcess) => p.lines.filter((l) => l.includes('recovery: waiting for the workers to reach these offsets') && l.includes(productId)).length;
    const recoveries = async () => (await waitForSale(ns, 'span', 'read', () => true)).status?.recovery?.count ?? 0;

    // Recovery 1 under A, with orders unpersisted: A captures its barrier, then freezes.
    worker.child.kill('SIGSTOP');
    await buy(5);
    const aBefore = barrierLines(a);
    const r1 = await recoveries();
    await b.redis.del(saleKeys(productId).stock);
    await waitFor('operator-a captured a barrier', async () => barrierLines(a) > aBefore || undefined, 60_000, 50);
    a.child.kill('SIGSTOP');
    await waitFor('operator-b leads', async () => (await holder()).holderIdentity === 'operator-b' || undefined, 60_000, 100);
    worker.child.kill('SIGCONT');
    await waitForSale(ns, 'span', 'recovery 1 finished by operator-b', (x) => (x.status?.recovery?.count ?? 0) > r1 && x.status?.phase === 'Active', 120_000);
    a.child.kill('SIGCONT');
    await waitFor('operator-a knows it lost the Lease', async () => a.lines.some((l) => /lost|stopped leading|not the leader/i.test(l)) || undefined, 30_000, 100).catch(() => undefined);

    // Recovery 2 under B, orders unpersisted again; B dies mid-recovery, A leads again.
    await buy(10);
    worker.child.kill('SIGSTOP');
    await buy(10);
    const bBefore = barrierLines(bOp);
    const r2 = await recoveries();
    await b.redis.del(saleKeys(productId).stock);
    await waitFor('operator-b captured the barrier of recovery 2', async () => barrierLines(bOp) > bBefore || undefined, 60_000, 50).catch(async (e) => {
      console.log(JSON.stringify({ holder: await holder(), sale: (await waitForSale(ns, 'span', 'read', () => true)).status }), '\nB:', bOp.lines.slice(-15).join('\n'), '\nA:', a.lines.slice(-15).join('\n'));
      throw e;
    });
    await bOp.stop('SIGKILL');
    await waitFor('operator-a leads again', async () => (await holder()).holderIdentity === 'operator-a' || undefined, 60_000, 100);
    // Give A several polls: a stale barrier would let it reseed now, with the worker still frozen.
    await new Promise((r) => setTimeout(r, 4_000));
    const duringFreeze = await waitForSale(ns, 'span', 'read', () => true);
    worker.child.kill('SIGCONT');
    await waitForSale(ns, 'span', 'recovery 2 finished by operator-a', (x) => (x.status?.recovery?.count ?? 0) > r2 && x.status?.phase !== 'Recovering', 120_000);

    // Sell out, then compare what clients were promised with what PostgreSQL holds.
    for (let round = 0; round < 10 && accepted.length < stock + 5; round++) await buy(10);
    await waitForSale(ns, 'span', 'SoldOut and drained', (x) => x.status?.phase === 'SoldOut' && x.status.workers?.lag === 0, 120_000);
    await waitFor('every 200 stored', async () => {
      const n = await b.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM orders WHERE id = ANY($1::uuid[])', [accepted]);
      return Number(n.rows[0]!.n) === accepted.length || undefined;
    }, 60_000);
    const rows = await b.pool.query<{ status: string; n: string }>(
      'SELECT status, count(*)::text AS n FROM orders WHERE product_id = $1 GROUP BY status', [productId]);
    const byStatus = Object.fromEntries(rows.rows.map((x) => [x.status, Number(x.n)]));
    console.log(`[operator recovery across leaders] ${JSON.stringify({ accepted: accepted.length, ...byStatus, phaseWhileWorkerFrozen: duringFreeze.status?.phase, recoveries: await recoveries() })}`);
    expect(byStatus.rejected ?? 0).toBe(0);
    expect(byStatus.confirmed).toBe(stock);
    expect(accepted.length).toBe(stock);
    expect(duringFreeze.status?.phase).toBe('Recovering');
  }, 300_000);
});
