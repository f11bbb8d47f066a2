// The chart carries copies of files another part of the project owns (the CRD and the operator
// RBAC): real files, not symlinks, so a chart copied out of the repo (or vendored, or packaged)
// still works. These tests fail if a copy diverges, if a symlink comes back, or if the chart
// grows its own RBAC rules. After editing crds/ or deploy/rbac/, copy the file into the chart.
import { cpSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ALL_ON, CHART, KUBE_VERSION, parseManifests, REPO, runOk, template, tools, type K8sObject } from './chart.js';

const read = (p: string) => readFileSync(join(REPO, p), 'utf8');
const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJS()).filter(Boolean);
const FIX = 'copy the file into the chart: cp crds/flashsale.yaml helm/flux-gate/crds/; cp deploy/rbac/operator-clusterrole.yaml helm/flux-gate/files/operator-rbac.yaml';

describe('chart copies of shared files', () => {
  it('the chart CRD is byte-identical to crds/flashsale.yaml', () => {
    expect(readFileSync(join(CHART, 'crds/flashsale.yaml'), 'utf8'), FIX).toBe(read('crds/flashsale.yaml'));
  });

  it('the chart RBAC file is byte-identical to deploy/rbac/operator-clusterrole.yaml', () => {
    expect(readFileSync(join(CHART, 'files/operator-rbac.yaml'), 'utf8'), FIX).toBe(read('deploy/rbac/operator-clusterrole.yaml'));
  });

  const operatorRbac = (objects: K8sObject[]) => objects.filter((o) => /Role(Binding)?$/.test(o.kind) && o.metadata.labels?.['app.kubernetes.io/component'] === 'operator');

  it.each([['default', []], ['all-on', [ALL_ON]]])('every namespace: the rendered ClusterRole and leader-election Role have exactly the rules of deploy/rbac (%s values)', async (_n, files) => {
    const source = docs(read('deploy/rbac/operator-clusterrole.yaml'));
    const rendered = operatorRbac(await template({ valuesFiles: files as string[] }));
    for (const kind of ['ClusterRole', 'Role']) {
      const want = source.find((d: any) => d.kind === kind);
      const got = rendered.filter((o) => o.kind === kind);
      expect(got, kind).toHaveLength(1);
      expect(got[0]!.rules, kind).toEqual(want.rules);
    }
    // Nothing else grants the operator permissions.
    expect(rendered.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
  });

  it('watchNamespaces: a Role with the ClusterRole\'s rules and a RoleBinding in each watched namespace, nothing cluster-wide', async () => {
    const source = docs(read('deploy/rbac/operator-clusterrole.yaml'));
    const objects = await template({ set: ['operator.watchNamespaces={shop,shop-eu}'] });
    const rendered = operatorRbac(objects);
    expect(rendered.filter((o) => o.kind.startsWith('Cluster'))).toEqual([]);
    for (const ns of ['shop', 'shop-eu']) {
      const role = rendered.find((o) => o.kind === 'Role' && o.metadata.namespace === ns && !o.metadata.name.endsWith('-leader-election'));
      expect(role?.rules, ns).toEqual(source.find((d: any) => d.kind === 'ClusterRole').rules);
      const binding = rendered.find((o) => o.kind === 'RoleBinding' && o.metadata.namespace === ns && o.roleRef.name === role!.metadata.name);
      expect(binding?.roleRef.kind, ns).toBe('Role');
    }
    const operator = objects.find((o) => o.kind === 'Deployment' && o.metadata.name.endsWith('-operator'))!;
    const env = operator.spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>;
    expect(env.find((e) => e.name === 'WATCH_NAMESPACE')?.value).toBe('shop,shop-eu');
  });

  it('tenants: view gets read access and edit/admin write access to FlashSales by aggregation, and it can be turned off', async () => {
    const aggregated = (await template()).filter((o) => o.kind === 'ClusterRole' && o.metadata.labels?.['app.kubernetes.io/component'] === 'rbac');
    const view = aggregated.find((o) => o.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-view'] === 'true')!;
    const edit = aggregated.find((o) => !o.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-view'])!;
    expect(view.rules).toEqual([{ apiGroups: ['fluxgate.io'], resources: ['flashsales', 'flashsales/status'], verbs: ['get', 'list', 'watch'] }]);
    expect(edit.metadata.labels).toMatchObject({ 'rbac.authorization.k8s.io/aggregate-to-edit': 'true', 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' });
    expect(edit.rules[0].verbs).toEqual(['create', 'update', 'patch', 'delete', 'deletecollection']);
    // Nobody gets write access to the status (the operator's) through these.
    expect(JSON.stringify(edit.rules)).not.toContain('flashsales/status');
    expect((await template({ set: ['rbac.aggregateToDefaultRoles=false'] })).filter((o) => o.metadata.labels?.['app.kubernetes.io/component'] === 'rbac')).toEqual([]);
  });

  it('the chart directory holds no symlink (a copied chart must not point back into the repo)', () => {
    const links: string[] = [];
    const walk = (dir: string) => {
      for (const e of readdirSync(dir)) {
        const p = join(dir, e);
        const st = lstatSync(p);
        if (st.isSymbolicLink()) links.push(p.slice(CHART.length + 1));
        else if (st.isDirectory()) walk(p);
      }
    };
    walk(CHART);
    expect(links).toEqual([]);
  });

  it('a chart copied out of the repo packages and renders, CRD included', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-chart-copy-'));
    try {
      cpSync(CHART, join(dir, 'flux-gate'), { recursive: true });
      const { helm } = tools();
      await runOk(helm, ['package', join(dir, 'flux-gate'), '--destination', dir]);
      const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
      const out = parseManifests(await runOk(helm, ['template', 'fg', join(dir, tgz), '-n', 'shop', '--kube-version', KUBE_VERSION, '--include-crds']));
      expect(out.find((o) => o.kind === 'CustomResourceDefinition')?.metadata.name).toBe('flashsales.fluxgate.io');
      expect(out.filter((o) => o.kind === 'Deployment').length).toBe(3);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the rendered RBAC binds only the operator ServiceAccount', async () => {
    const rendered = await template();
    const sa = rendered.find((o) => o.kind === 'ServiceAccount')!;
    for (const b of rendered.filter((o) => /RoleBinding$/.test(o.kind))) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'shop' }]);
    }
  });
});
