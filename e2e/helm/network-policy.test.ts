// NetworkPolicies (networkPolicy.enabled): default deny; only the api open to outside; egress
// only to DNS, the api, the data stores and (operator) the kube-apiserver; data stores fenced.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { securedInstallDoc } from '../support/secured-values.js';
import { ALL_ON, template, type K8sObject } from './chart.js';

let policies: K8sObject[] = [];
beforeAll(async () => {
  policies = (await template({ valuesFiles: [ALL_ON] })).filter((o) => o.kind === 'NetworkPolicy');
});

/** TCP ports the egress policy for every Flux-Gate pod lets out to the data stores. */
async function dataStoreEgressPorts(o: { valuesFiles?: string[]; set?: string[] }): Promise<number[]> {
  const objects = await template({ ...o, set: ['networkPolicy.enabled=true', ...(o.set ?? [])] });
  const egress = objects.find((x) => x.kind === 'NetworkPolicy' && x.metadata.name === 'fg-flux-gate-egress')!;
  const rules = egress.spec.egress.filter((r: any) => r.ports.some((x: any) => typeof x.port === 'number' && x.port !== 53));
  return rules.flatMap((r: any) => r.ports.map((x: any) => x.port));
}

const component = (p: K8sObject) => p.spec.podSelector.matchLabels?.['app.kubernetes.io/component'];
const isOurs = (p: K8sObject) => p.spec.podSelector.matchLabels?.['app.kubernetes.io/instance'] === 'fg';

describe('NetworkPolicies', () => {
  it('are off by default', async () => {
    expect((await template()).filter((o) => o.kind === 'NetworkPolicy')).toEqual([]);
  });

  it('deny everything for every Flux-Gate pod unless another policy allows it', () => {
    const deny = policies.find((p) => p.metadata.name === 'fg-flux-gate-default-deny')!;
    expect(deny.spec).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'flux-gate', 'app.kubernetes.io/instance': 'fg' } },
      policyTypes: ['Ingress', 'Egress'],
    });
  });

  it('let traffic into our pods only on the api port, or from the named monitoring peers', () => {
    for (const p of policies.filter(isOurs)) {
      for (const rule of p.spec.ingress ?? []) {
        if (component(p) === 'api') expect(rule.ports).toEqual([{ port: 'http', protocol: 'TCP' }]);
        else expect(rule.from, `${p.metadata.name}: ingress to non-api pods must name its sources`).toEqual([
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
        ]);
      }
    }
  });

  it('let traffic out only to DNS, the api, the data store ports and (operator only) the apiserver', () => {
    const allowed: string[] = [];
    for (const p of policies.filter(isOurs)) {
      for (const rule of p.spec.egress ?? []) {
        const ports = rule.ports.map((x: any) => `${x.port}/${x.protocol}`).join(',');
        allowed.push(`${component(p) ?? 'all'} -> ${ports}${rule.to ? '' : ' (any destination)'}`);
      }
    }
    expect(allowed.sort()).toEqual([
      'all -> 53/UDP,53/TCP (any destination)',
      'all -> 6379/TCP,26379/TCP,9092/TCP,5432/TCP',
      'all -> http/TCP',
      'operator -> 443/TCP,6443/TCP',
    ]);
  });

  it('fence in-namespace data stores so only Flux-Gate pods and their own peers reach them', () => {
    const redis = policies.find((p) => p.metadata.name === 'fg-flux-gate-redis-ingress')!;
    expect(redis.spec.podSelector).toEqual({ matchLabels: { 'app.kubernetes.io/name': 'redis' } });
    expect(redis.spec.ingress).toEqual([
      {
        from: [
          { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'flux-gate', 'app.kubernetes.io/instance': 'fg' } } },
          { podSelector: { matchLabels: { 'app.kubernetes.io/name': 'redis' } } },
        ],
        ports: [{ port: 6379, protocol: 'TCP' }, { port: 26379, protocol: 'TCP' }],
      },
    ]);
  });

  // A secured install dials the stores' TLS listeners (Kafka SASL_SSL on 9093, Redis TLS on 6380):
  // the egress rule must open the ports the values name, not only a fixed list of plaintext ports.
  it('let traffic out to every port the Redis, Kafka and PostgreSQL settings name (TLS listeners included)', async () => {
    const ports = await dataStoreEgressPorts({
      set: [
        'redis.port=6380', 'redis.tls.enabled=true',
        'kafka.brokers={kafka-0.kafka:9093,kafka-1.kafka:9093}', 'kafka.tls.enabled=true',
        'postgres.port=5433', 'postgres.tls.sslmode=require',
      ],
    });
    expect(ports).toEqual(expect.arrayContaining([6380, 9093, 5433]));
    expect(new Set(ports).size, `a port listed twice: ${ports}`).toBe(ports.length);
  });

  it('let traffic out to the Sentinel and Redis Cluster ports the settings name', async () => {
    const sentinel = await dataStoreEgressPorts({ set: ['redis.mode=sentinel', 'redis.sentinel.endpoints={s-0:26380,s-1:26380}'] });
    expect(sentinel).toContain(26380);
    const cluster = await dataStoreEgressPorts({ set: ['redis.mode=cluster', 'redis.cluster.nodes={n-0:7000,n-1:7001}'] });
    expect(cluster).toEqual(expect.arrayContaining([7000, 7001]));
  });

  it("let the README's secured install reach its Kafka SASL_SSL brokers", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fg-np-'));
    try {
      const file = join(dir, 'secured.yaml');
      writeFileSync(file, securedInstallDoc().valuesText);
      expect(await dataStoreEgressPorts({ valuesFiles: [file] })).toEqual(expect.arrayContaining([9093, 6379, 5432]));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
