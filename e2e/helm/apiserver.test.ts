// The chart against the REAL kube-apiserver of the local stack: every rendered object passes
// server-side validation (dry-run, restricted Pod Security enforced), and a real `helm install`
// works, takes a FlashSale, and leaves the worker's replicas to the operator on upgrade.
// No kubelet runs here: pods never start, so hooks are skipped (--no-hooks) and nothing waits.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_ON, CHART, FIXTURES, REPO, parseManifests, run, runOk, templateArgs, tools } from './chart.js';

const suffix = randomBytes(3).toString('hex');
const dryRunNs = `helm-dryrun-${suffix}`;
const installNs = `helm-install-${suffix}`;
let helm: string;
let kubectl: string;

/** A namespace that enforces the "restricted" Pod Security Standard, and warns on workloads. */
async function createRestrictedNamespace(name: string) {
  await runOk(kubectl, ['create', 'namespace', name]);
  await runOk(kubectl, [
    'label', 'namespace', name,
    'pod-security.kubernetes.io/enforce=restricted',
    'pod-security.kubernetes.io/warn=restricted',
  ]);
}

beforeAll(async () => {
  if (!process.env.KUBECONFIG) throw new Error('KUBECONFIG is not set: the e2e global setup (or `npm run stack:env`) provides the local control plane');
  ({ helm, kubectl } = tools());
  // CRDs first: the chart's FlashSale CRD and the small monitoring CRDs of the fixtures.
  await runOk(kubectl, ['apply', '--server-side', '--force-conflicts', '-f', join(CHART, 'crds/flashsale.yaml'), '-f', join(FIXTURES, 'monitoring-crds.yaml')]);
  await runOk(kubectl, ['wait', '--for=condition=Established', '--timeout=60s',
    'crd/flashsales.fluxgate.io', 'crd/servicemonitors.monitoring.coreos.com', 'crd/prometheusrules.monitoring.coreos.com']);
  await createRestrictedNamespace(dryRunNs);
  await createRestrictedNamespace(installNs);
});

afterAll(async () => {
  if (!kubectl) return;
  await run(helm, ['uninstall', 'flux-gate', '--namespace', installNs, '--no-hooks']);
  await run(kubectl, ['delete', 'namespace', dryRunNs, installNs, '--wait=false']);
});

describe('every rendered object passes server-side validation', () => {
  it.each([
    ['default values', [] as string[]],
    ['every option on', [ALL_ON]],
  ])('%s', async (_name, valuesFiles) => {
    const manifest = await runOk(helm, templateArgs({ valuesFiles, namespace: dryRunNs }));
    const objects = parseManifests(manifest);
    const r = await run(kubectl, ['apply', '--dry-run=server', '--validate=strict', '-o', 'name', '-f', '-'], manifest);
    expect(r.stderr).not.toMatch(/PodSecurity|Warning/);
    expect(r.code, r.stderr).toBe(0);
    const accepted = r.stdout.trim().split('\n').sort();
    const want = objects.map((o) => `${o.kind.toLowerCase()}.${groupOf(o.apiVersion)}/${o.metadata.name}`.replace('./', '/')).sort();
    expect(accepted).toEqual(want);
    if (valuesFiles.length) {
      const kinds = new Set(objects.map((o) => o.kind));
      for (const k of ['ServiceMonitor', 'PrometheusRule', 'NetworkPolicy', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Job', 'ConfigMap']) {
        expect(kinds, k).toContain(k);
      }
    }
  });
});

function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.split('/')[0]! : '';
}

describe('helm install into the local control plane', () => {
  it('installs, takes the example FlashSale, lists it, and keeps the operator-set worker replicas on upgrade', async () => {
    const install = await run(helm, ['install', 'flux-gate', CHART, '--namespace', installNs, '--no-hooks', '--timeout', '60s']);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout).toContain('STATUS: deployed');
    expect(install.stdout).toContain(`kubectl get flashsales -n ${installNs} -w`);

    const deployments = (await runOk(kubectl, ['get', 'deployments', '-n', installNs, '-o', 'name'])).trim().split('\n').sort();
    expect(deployments).toEqual(['deployment.apps/flux-gate-api', 'deployment.apps/flux-gate-operator', 'deployment.apps/flux-gate-worker']);

    // The example names the worker Deployment this release created (flux-gate-worker).
    await runOk(kubectl, ['apply', '-n', installNs, '-f', join(REPO, 'crds/examples/flashsale.yaml')]);
    const list = await runOk(kubectl, ['get', 'flashsales', '-n', installNs]);
    expect(list).toMatch(/^NAME\s+PHASE\s+REMAINING\s+SOLD\s+LAG\s+WORKERS\s+REASON\s+AGE/m);
    expect(list).toMatch(/^phone-drop\s/m);

    // The operator scales the worker through the scale subresource; a chart upgrade must not undo it.
    await runOk(kubectl, ['scale', 'deployment/flux-gate-worker', '-n', installNs, '--replicas=4']);
    const upgrade = await run(helm, ['upgrade', 'flux-gate', CHART, '--namespace', installNs, '--no-hooks', '--set', 'logLevel=debug']);
    expect(upgrade.code, upgrade.stderr).toBe(0);
    const replicas = await runOk(kubectl, ['get', 'deployment/flux-gate-worker', '-n', installNs, '-o', 'jsonpath={.spec.replicas}']);
    expect(replicas).toBe('4');
    const revision = await runOk(helm, ['history', 'flux-gate', '--namespace', installNs, '-o', 'json']);
    expect(JSON.parse(revision).map((h: any) => h.status)).toEqual(['superseded', 'deployed']);
  });

  it('a tenant bound to the built-in edit role may write FlashSales, one bound to view may only read them (aggregation)', async () => {
    await runOk(kubectl, ['create', 'rolebinding', 'tenant-edit', '-n', installNs, '--clusterrole=edit', '--user=tenant-editor']);
    await runOk(kubectl, ['create', 'rolebinding', 'tenant-view', '-n', installNs, '--clusterrole=view', '--user=tenant-viewer']);
    const can = async (user: string, verb: string, ...extra: string[]) =>
      (await run(kubectl, ['auth', 'can-i', verb, 'flashsales.fluxgate.io', ...extra, '-n', installNs, `--as=${user}`])).stdout.trim();
    // The clusterrole-aggregation controller (kube-controller-manager) copies the rules in.
    for (let i = 0; i < 100 && (await can('tenant-editor', 'create')) !== 'yes'; i++) await new Promise((r) => setTimeout(r, 200));
    expect(await can('tenant-editor', 'create')).toBe('yes');
    expect(await can('tenant-editor', 'delete')).toBe('yes');
    expect(await can('tenant-editor', 'patch', '--subresource=status')).toBe('no');
    expect(await can('tenant-viewer', 'list')).toBe('yes');
    expect(await can('tenant-viewer', 'create')).toBe('no');
  });

  it('a release scoped to other namespaces gets Roles there and no cluster-wide grant', async () => {
    const watched = `${installNs}-tenant`;
    await runOk(kubectl, ['create', 'namespace', watched]);
    try {
      const r = await run(helm, ['install', 'scoped', CHART, '--namespace', installNs, '--no-hooks', '--set', `operator.watchNamespaces={${watched}}`, '--set', 'rbac.aggregateToDefaultRoles=false']);
      expect(r.code, r.stderr).toBe(0);
      const sa = `system:serviceaccount:${installNs}:scoped-flux-gate-operator`;
      const can = async (ns: string[]) => (await run(kubectl, ['auth', 'can-i', 'patch', 'flashsales.fluxgate.io', '--subresource=status', ...ns, `--as=${sa}`])).stdout.trim();
      expect(await can(['-n', watched])).toBe('yes');
      expect(await can(['-n', installNs])).toBe('no');
      expect(await can(['--all-namespaces'])).toBe('no');
    } finally {
      await run(helm, ['uninstall', 'scoped', '--namespace', installNs, '--no-hooks']);
      await run(kubectl, ['delete', 'namespace', watched, '--wait=false']);
    }
  });
});
