// The chart on a real node: `helm install` with hooks (the migrate Job runs), every pod Ready
// through the chart's probes under the restricted Pod Security standard, `helm test`, then a
// FlashSale seeded by the operator pod and orders through the API Service ending in PostgreSQL.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  confirmedInPostgres, createNamespace, helm, installRelease, kubectl, kubectlJson, nodePortOf, nodeValues, sendOrders, waitFor,
} from './cluster.js';

const cluster = inject('cluster');
const ns = `fg-cluster-${Date.now().toString(36)}`;
const release = 'flux-gate'; // fullname "flux-gate": Deployments flux-gate-api, -worker, -operator
const log = (line: string) => process.stderr.write(`[cluster] ${line}\n`);

describe('helm install on the local node', () => {
  let installSeconds = 0;

  beforeAll(async () => {
    await createNamespace(ns);
    // --wait: every Deployment Available (probes passing); hooks included, so the pre-install
    // migrate Job must complete first or the install fails.
    installSeconds = await installRelease(ns, release, nodeValues(cluster, ns));
    log(`helm install --wait (hooks included) to every pod Ready: ${installSeconds} s (stack up ${cluster.timings.stackUpSeconds} s, image ${cluster.timings.imageSeconds} s)`);
  });

  afterAll(async () => {
    // Order matters: FlashSales first, while the operator runs to remove its finalizer; then the
    // release; then the namespace.
    await kubectl(['delete', 'flashsales.fluxgate.io', '--all', '-n', ns, '--wait=true', '--timeout=120s']).catch((e: Error) => log(e.message));
    await helm(['uninstall', release, '-n', ns, '--wait', '--timeout', '5m']).catch((e: Error) => log(e.message));
    await kubectl(['delete', 'namespace', ns, '--wait=false']).catch((e: Error) => log(e.message));
  });

  it('ran the migrate hook and brought every workload to Ready', async () => {
    const schema = await confirmedInPostgres(cluster.databaseUrl, '__none__');
    expect(schema.confirmed).toBe(0); // the tables exist: the migrate Job ran against this PostgreSQL
    for (const component of ['api', 'worker', 'operator']) {
      const d = await kubectlJson(['get', 'deployment', `${release}-${component}`, '-n', ns]);
      expect(d.status.readyReplicas, `${component} ready replicas`).toBe(d.spec.replicas);
    }
    const pods = await kubectlJson<{ items: any[] }>(['get', 'pods', '-n', ns]);
    const running = pods.items.filter((p) => p.status.phase === 'Running');
    expect(running.length).toBeGreaterThanOrEqual(5); // 2 api, 2 operator, 1 worker
    for (const p of running) {
      expect(p.spec.containers[0].image).toBe(`${cluster.image.repository}:${cluster.image.tag}`);
      expect(p.status.containerStatuses.every((s: any) => s.ready), `${p.metadata.name} ready`).toBe(true);
    }
  });

  it('passes `helm test` (GET /readyz through the API Service, by its DNS name)', async () => {
    const out = await helm(['test', release, '-n', ns, '--timeout', '5m']);
    expect(out).toMatch(/Phase:\s+Succeeded/);
  });

  it('sells exactly the stock of a FlashSale the operator pod seeded, orders through the API Service', async () => {
    const productId = `cluster-${ns}`;
    const stock = 40;
    const now = Date.now();
    const sale = {
      apiVersion: 'fluxgate.io/v1alpha1',
      kind: 'FlashSale',
      metadata: { name: 'drop', namespace: ns },
      spec: {
        productId,
        stock,
        startsAt: new Date(now - 60_000).toISOString(),
        endsAt: new Date(now + 3_600_000).toISOString(),
        limits: { perUser: 1 },
        workers: { deployment: `${release}-worker`, minReplicas: 1, maxReplicas: 3 },
      },
    };
    await kubectl(['apply', '-f', '-'], JSON.stringify(sale));
    await waitFor('FlashSale phase Active', 180_000, async () => {
      const fs = await kubectlJson(['get', 'flashsale', 'drop', '-n', ns]);
      return fs.status?.phase === 'Active' ? true : undefined;
    }, async () => JSON.stringify((await kubectlJson(['get', 'flashsale', 'drop', '-n', ns])).status, null, 2));

    const url = `http://${cluster.nodeIp}:${await nodePortOf(ns, `${release}-api`)}`;
    const tally = await sendOrders(url, productId, 200, 16);
    log(`200 orders for ${stock} units through ${url}: ${JSON.stringify(tally.statuses)}`);
    expect(tally.accepted).toBe(stock);
    expect(tally.statuses[409]).toBe(200 - stock);

    const final = await waitFor('every accepted order confirmed in PostgreSQL', 180_000, async () => {
      const pgState = await confirmedInPostgres(cluster.databaseUrl, productId);
      return pgState.confirmed === stock ? pgState : undefined;
    });
    log(`PostgreSQL: ${JSON.stringify(final)}`);
    expect(final).toEqual({ confirmed: stock, rejected: 0, stock: 0 });
  });
});
