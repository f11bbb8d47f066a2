// Namespace scoping on the real apiserver: two operators (two releases), one watching a list of
// two namespaces and one watching a third, each with RoleBindings in its own namespaces only (no
// cluster-wide right to list FlashSales). Each reconciles exactly its own FlashSales, never the
// other's, and neither touches a FlashSale in a namespace nobody watches.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningProcess } from '../support/processes.js';
import {
  applyCrd, backends, condition, createNamespace, flashSale, getSale, kubectl, kubectlFails, operatorKubeconfig, startOperator, uniqueName,
  waitForSale, type Backends,
} from './support.js';

let a1 = '';
let a2 = '';
let bNs = '';
let unwatched = '';
let kubeconfigA = '';
let kubeconfigB = '';
let b: Backends;
const procs: RunningProcess[] = [];

beforeAll(async () => {
  await applyCrd();
  [a1, a2, bNs, unwatched] = (await Promise.all(['op-ns-a1', 'op-ns-a2', 'op-ns-b', 'op-ns-none'].map((p) => createNamespace(p)))) as [string, string, string, string];
  kubeconfigA = await operatorKubeconfig(a1);
  // Release A also watches a2: one more RoleBinding there, as the chart renders per namespace.
  await kubectl(['create', 'rolebinding', 'flux-gate-operator', '-n', a2, '--clusterrole=flux-gate-operator', `--serviceaccount=${a1}:flux-gate-operator`]);
  kubeconfigB = await operatorKubeconfig(bNs);
  b = await backends('namespaces');
}, 180_000);

afterAll(async () => {
  for (const p of procs) await p.stop();
  await b?.close();
});

/** The operator seeded this product: only the one that reconciles a sale does. */
const seeded = (p: RunningProcess, productId: string) => p.lines.some((l) => l.includes('"msg":"seeded Redis from PostgreSQL"') && l.includes(productId));

describe('WATCH_NAMESPACE', () => {
  it('two releases scoped to different namespaces each reconcile only their own FlashSales', async () => {
    const opA = await startOperator(a1, kubeconfigA, b, { WATCH_NAMESPACE: `${a1},${a2}`, OPERATOR_IDENTITY: 'release-a' });
    procs.push(opA);
    const opB = await startOperator(bNs, kubeconfigB, b, { OPERATOR_IDENTITY: 'release-b' });
    procs.push(opB);
    expect(opA.lines.find((l) => l.includes('"msg":"ready"'))).toContain(`"watchNamespace":"${a1},${a2}"`);

    const products = { [a1]: uniqueName('ns-a1'), [a2]: uniqueName('ns-a2'), [bNs]: uniqueName('ns-b'), [unwatched]: uniqueName('ns-none') };
    for (const [ns, productId] of Object.entries(products)) {
      await kubectl(['apply', '-n', ns, '-f', '-'], { input: flashSale('sale', { productId, stock: 3 }) });
    }
    for (const ns of [a1, a2, bNs]) await waitForSale(ns, 'sale', 'Ready', (x) => condition(x, 'Ready')?.status === 'True');

    expect(seeded(opA, products[a1]!)).toBe(true);
    expect(seeded(opA, products[a2]!)).toBe(true);
    expect(seeded(opB, products[bNs]!)).toBe(true);
    // Never the other release's sale, and never a namespace nobody watches.
    expect(seeded(opB, products[a1]!) || seeded(opB, products[a2]!)).toBe(false);
    expect(seeded(opA, products[bNs]!)).toBe(false);
    for (const p of [opA, opB]) expect(p.lines.filter((l) => l.includes(unwatched))).toEqual([]);
    // Every resync (RESYNC_SECONDS=5) has passed at least once by the time a second one would act.
    await new Promise((r) => setTimeout(r, 6_000));
    expect((await getSale(unwatched, 'sale'))?.status).toBeUndefined();
    // Each release's Events carry its own identity only.
    for (const [ns, who] of [[a1, 'release-a'], [a2, 'release-a'], [bNs, 'release-b']] as const) {
      const list = JSON.parse(await kubectl(['get', 'events', '-n', ns, '-o', 'json'])).items as Array<{ reportingInstance?: string }>;
      expect(list.length, ns).toBeGreaterThan(0);
      expect(new Set(list.map((e) => e.reportingInstance)), ns).toEqual(new Set([who]));
    }
    // Two Leases, one per release, each held by its own operator.
    for (const [ns, who] of [[a1, 'release-a'], [bNs, 'release-b']] as const) {
      const lease = JSON.parse(await kubectl(['get', 'lease', 'flux-gate-operator', '-n', ns, '-o', 'json']));
      expect(lease.spec.holderIdentity).toBe(who);
    }
  }, 180_000);

  it('a scoped release holds no cluster-wide right to list FlashSales (RoleBindings only)', async () => {
    // `kubectl auth can-i` exits 1 for "no".
    expect(await kubectlFails(['auth', 'can-i', 'list', 'flashsales.fluxgate.io', '--all-namespaces'], { kubeconfig: kubeconfigB })).toMatch(/exit 1/);
    expect((await kubectl(['auth', 'can-i', 'list', 'flashsales.fluxgate.io', '-n', bNs], { kubeconfig: kubeconfigB })).trim()).toBe('yes');
    expect(await kubectlFails(['auth', 'can-i', 'list', 'flashsales.fluxgate.io', '-n', a1], { kubeconfig: kubeconfigB })).toMatch(/exit 1/);
  });
});
