// The CRD lifecycle on the REAL kube-apiserver. Helm installs crds/ once and never upgrades
// them, so the documented upgrade step (docs/install.md, "Upgrade") is
//   kubectl apply --server-side --force-conflicts -f helm/flux-gate/crds/flashsale.yaml
// This suite runs that step over the CRD the previous chart (0.1.0) installed, with a FlashSale
// stored under it. The CRD is cluster-scoped and shared with the other suites, so both versions
// are renamed into a group of this suite's own (nothing else in the stack sees them).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHART, FIXTURES, KUBE_VERSION, run, runOk, tools } from './chart.js';

const suffix = randomBytes(3).toString('hex');
const group = `upgrade-${suffix}.fluxgate.test`;
const ns = `helm-crd-upgrade-${suffix}`;
const crd = `flashsales.${group}`;
let kubectl: string;
let helm: string;

/** A CRD file moved into this suite's group (the name and group change, nothing else). */
const ownGroup = (file: string) => readFileSync(file, 'utf8').replaceAll('flashsales.fluxgate.io', crd).replace(/^(\s+)group: fluxgate\.io$/m, `$1group: ${group}`);
const OLD = ownGroup(join(FIXTURES, 'flashsale-crd-0.1.0.yaml'));
const NEW = ownGroup(join(CHART, 'crds/flashsale.yaml'));

const sale = (name: string, spec: Record<string, unknown>) =>
  JSON.stringify({ apiVersion: `${group}/v1alpha1`, kind: 'FlashSale', metadata: { name, namespace: ns }, spec });

beforeAll(async () => {
  if (!process.env.KUBECONFIG) throw new Error('KUBECONFIG is not set: run through the stack (eval "$(npm run -s stack:env)")');
  ({ kubectl, helm } = tools());
  await runOk(kubectl, ['create', 'namespace', ns]);
});

afterAll(async () => {
  if (!kubectl) return;
  await run(kubectl, ['delete', 'crd', crd, '--wait=false']);
  await run(kubectl, ['delete', 'namespace', ns, '--wait=false']);
});

describe('CRD upgrade from the previous chart', () => {
  it('the documented server-side apply upgrades the CRD in place and keeps the stored FlashSales', async () => {
    // What `helm install` of chart 0.1.0 left behind: the CRD created without server-side apply.
    await runOk(kubectl, ['create', '-f', '-'], OLD);
    await runOk(kubectl, ['wait', '--for=condition=Established', '--timeout=60s', `crd/${crd}`]);
    await runOk(kubectl, ['apply', '-f', '-'], sale('before-upgrade', { productId: 'up-1', stock: 7 }));
    const before = (await runOk(kubectl, ['get', `${crd}`, '-n', ns])).split('\n')[0]!;
    expect(before).not.toMatch(/REASON/);

    // The step docs/install.md documents. Twice: it must be idempotent (every upgrade runs it).
    for (let i = 0; i < 2; i++) {
      const r = await run(kubectl, ['apply', '--server-side', '--force-conflicts', '-f', '-'], NEW);
      expect(r.code, r.stderr).toBe(0);
    }
    await runOk(kubectl, ['wait', '--for=condition=Established', '--timeout=60s', `crd/${crd}`]);

    // The new version is served: the Reason column and the new field descriptions.
    const after = await runOk(kubectl, ['get', crd, '-n', ns]);
    expect(after.split('\n')[0]).toMatch(/^NAME\s+PHASE\s+REMAINING\s+SOLD\s+LAG\s+WORKERS\s+REASON\s+AGE$/);
    expect(after).toMatch(/^before-upgrade\s/m);
    const stored = JSON.parse(await runOk(kubectl, ['get', crd, 'before-upgrade', '-n', ns, '-o', 'json']));
    expect(stored.spec).toEqual({ productId: 'up-1', stock: 7, paused: false, limits: { perUser: 1 } });
    // The served CRD is exactly the chart's (nothing of 0.1.0 left behind).
    const served = JSON.parse(await runOk(kubectl, ['get', 'crd', crd, '-o', 'json']));
    const columns = served.spec.versions[0].additionalPrinterColumns.map((c: { name: string }) => c.name);
    expect(columns).toContain('Reason');
    expect(served.spec.versions[0].schema.openAPIV3Schema.properties.spec.description).toMatch(/What to sell/);
    // Its rules still hold for writes after the upgrade.
    const bad = await run(kubectl, ['apply', '-f', '-'], sale('bad', { productId: 'up-2', stock: 1, startsAt: '2030-01-01T11:00:00Z', endsAt: '2030-01-01T10:00:00Z' }));
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/spec\.endsAt: Invalid value: .*spec\.endsAt must be after spec\.startsAt/);
  });
});

describe('Chart.yaml kubeVersion', () => {
  it('refuses clusters older than 1.28 (the CRD rules use reason and fieldPath) and accepts 1.28', async () => {
    const crdText = readFileSync(join(CHART, 'crds/flashsale.yaml'), 'utf8');
    expect(crdText).toMatch(/^\s+reason: \w+$/m);
    expect(crdText).toMatch(/^\s+fieldPath: /m);
    const old = await run(helm, ['template', 'fg', CHART, '--kube-version', '1.27.9']);
    expect(old.code).not.toBe(0);
    expect(old.stderr).toMatch(/chart requires kubeVersion: >=1\.28\.0-0 which is incompatible with Kubernetes v1\.27\.9/);
    for (const v of ['1.28.0', KUBE_VERSION]) {
      const ok = await run(helm, ['template', 'fg', CHART, '--kube-version', v]);
      expect(ok.code, `${v}: ${ok.stderr}`).toBe(0);
    }
  });
});
