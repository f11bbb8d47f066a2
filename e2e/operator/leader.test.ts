// Two operator replicas: only the Lease holder acts; kill it (SIGKILL, no release) and the other
// takes over once the Lease expires.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProcess } from '../support/processes.js';
import {
  applyCrd, backends, condition, createNamespace, flashSale, kubectl, operatorKubeconfig, startOperator, uniqueName, waitFor,
  waitForSale, type Backends,
} from './support.js';

let ns = '';
let kubeconfig = '';
let b: Backends;
const procs: RunningProcess[] = [];

beforeAll(async () => {
  await applyCrd();
  ns = await createNamespace('op-leader');
  kubeconfig = await operatorKubeconfig(ns);
  b = await backends('leader');
}, 180_000);

afterAll(async () => {
  for (const p of procs) await p.stop();
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
