// The chart reuses files another part of the project owns (Helm reads only files inside the
// chart, so they are symlinked in: helm follows them and `helm package` stores their content).
// These tests fail if the chart ever gets its own diverging copy or its own RBAC rules.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ALL_ON, CHART, REPO, template } from './chart.js';

const read = (p: string) => readFileSync(join(REPO, p), 'utf8');
const docs = (text: string) => parseAllDocuments(text).map((d) => d.toJS()).filter(Boolean);
const FIX = 'the chart must reuse the file (a symlink), not carry a diverging copy';

describe('chart copies of shared files', () => {
  it('the chart CRD is byte-identical to crds/flashsale.yaml', () => {
    expect(readFileSync(join(CHART, 'crds/flashsale.yaml'), 'utf8'), FIX).toBe(read('crds/flashsale.yaml'));
  });

  it('the chart RBAC file is byte-identical to deploy/rbac/operator-clusterrole.yaml', () => {
    expect(readFileSync(join(CHART, 'files/operator-rbac.yaml'), 'utf8'), FIX).toBe(read('deploy/rbac/operator-clusterrole.yaml'));
  });

  it.each([['default', []], ['all-on', [ALL_ON]]])('the rendered ClusterRole and leader-election Role have exactly the rules of deploy/rbac (%s values)', async (_n, files) => {
    const source = docs(read('deploy/rbac/operator-clusterrole.yaml'));
    const rendered = await template({ valuesFiles: files as string[] });
    for (const kind of ['ClusterRole', 'Role']) {
      const want = source.find((d: any) => d.kind === kind);
      const got = rendered.filter((o) => o.kind === kind);
      expect(got, kind).toHaveLength(1);
      expect(got[0]!.rules, kind).toEqual(want.rules);
    }
    // Nothing else in the chart grants permissions.
    expect(rendered.filter((o) => /Role$/.test(o.kind)).map((o) => o.kind).sort()).toEqual(['ClusterRole', 'Role']);
  });

  it('the rendered RBAC binds only the operator ServiceAccount', async () => {
    const rendered = await template();
    const sa = rendered.find((o) => o.kind === 'ServiceAccount')!;
    for (const b of rendered.filter((o) => /RoleBinding$/.test(o.kind))) {
      expect(b.subjects).toEqual([{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: 'shop' }]);
    }
  });
});
