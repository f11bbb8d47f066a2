// docs/install.md documents the chart: its values table is generated from values.yaml.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CHART, REPO } from './chart.js';
import { docsWithTable, leafPaths, valuesTable } from '../../tools/docs/values-table.mjs';

const docs = readFileSync(join(REPO, 'docs/install.md'), 'utf8');
const valuesText = readFileSync(join(CHART, 'values.yaml'), 'utf8');

describe('docs/install.md', () => {
  it('has the values table of values.yaml (run `node tools/docs/values-table.mjs --write` after editing values)', () => {
    expect(docs).toBe(docsWithTable(docs, valuesTable(valuesText)));
  });

  it('documents every leaf of values.yaml with its default', () => {
    const table = valuesTable(valuesText);
    const documented = [...table.matchAll(/^\| `([^`]+)` \| `(.*)` \|/gm)].map((m) => ({ path: m[1]!, def: m[2]! }));
    const values = parse(valuesText);
    for (const leaf of leafPaths(values)) {
      const entry = documented.find((d) => leaf === d.path || leaf.startsWith(`${d.path}.`));
      expect(entry, leaf).toBeDefined();
    }
    expect(documented.find((d) => d.path === 'operator.replicaCount')?.def).toBe('2');
  });

  it('has the helm install command and the external Redis modes', () => {
    expect(docs).toContain('helm install flux-gate ./helm/flux-gate');
    for (const mode of ['mode: single', 'mode: sentinel', 'mode: cluster']) expect(docs).toContain(mode);
  });
});
