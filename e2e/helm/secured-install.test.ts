// The README's "Install — secured" values render and validate as shown, and every Secret they name
// is one the README tells you to create (and the other way round).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { securedInstallDoc } from '../support/secured-values.js';
import { podSpecOf, run, template, tools, CHART, KUBE_VERSION } from './chart.js';

const { valuesText, createdSecrets } = securedInstallDoc();
const dir = mkdtempSync(join(tmpdir(), 'fg-secured-'));
const valuesFile = join(dir, 'secured.yaml');
writeFileSync(valuesFile, valuesText);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every Secret name the values point at: keys named existingSecret / clientCertSecret, and `name` under *Secret objects. */
function secretNames(node: unknown, key = ''): string[] {
  if (typeof node === 'string') return /(existingSecret|clientCertSecret)$/.test(key) || /Secret\.name$/.test(key) ? [node].filter(Boolean) : [];
  if (!node || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([k, v]) => secretNames(v, key.endsWith('Secret') && k === 'name' ? `${key}.name` : k));
}

describe('README: Install — secured', () => {
  it('has a values block', () => {
    expect(valuesText).toMatch(/^postgres:/m);
    expect(valuesText).toMatch(/^kafka:/m);
    expect(valuesText).toMatch(/^redis:/m);
  });

  it('renders and passes helm lint with exactly those values', async () => {
    const lint = await run(tools().helm, ['lint', CHART, '--strict', '--values', valuesFile, '--kube-version', KUBE_VERSION]);
    expect(lint.code, lint.stdout + lint.stderr).toBe(0);
    const objects = await template({ valuesFiles: [valuesFile] });
    const pods = objects.filter((o) => podSpecOf(o) && o.kind !== 'Pod');
    const containers = pods.flatMap((o) => podSpecOf(o).containers as Array<{ name: string; env: Array<{ name: string; value?: string }> }>);
    expect(containers.map((c) => c.name).sort()).toEqual(['api', 'migrate', 'operator', 'worker']);
    for (const c of containers) {
      const env = Object.fromEntries(c.env.map((e) => [e.name, e.value]));
      expect(env.PG_SSLMODE, c.name).toBe('verify-full');
      if (c.name !== 'migrate') expect([env.KAFKA_TLS, env.KAFKA_SASL_MECHANISM, env.KAFKA_SASL_USERNAME], c.name).toEqual(['true', 'scram-sha-512', `fluxgate-${c.name}`]);
      if (c.name === 'api' || c.name === 'operator') expect([env.REDIS_TLS, env.REDIS_USERNAME], c.name).toEqual(['true', `fluxgate-${c.name}`]);
    }
  });

  it('names only Secrets the section says to create, and creates only Secrets it uses', () => {
    const created = createdSecrets;
    const used = [...new Set(secretNames(parse(valuesText)))].sort();
    // Secrets for stores whose values are not in the block yet may be created ahead of them.
    expect(used.filter((s) => !created.includes(s))).toEqual([]);
    expect(created.filter((s) => /^flux-gate-(postgres|kafka|redis)/.test(s) && !used.includes(s))).toEqual([]);
  });
});
