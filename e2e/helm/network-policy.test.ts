// NetworkPolicies (networkPolicy.enabled): default deny; only the api open to outside; egress
// only to DNS, the api, the data stores and (operator) the kube-apiserver; data stores fenced.
import { beforeAll, describe, expect, it } from 'vitest';
import { ALL_ON, template, type K8sObject } from './chart.js';

let policies: K8sObject[] = [];
beforeAll(async () => {
  policies = (await template({ valuesFiles: [ALL_ON] })).filter((o) => o.kind === 'NetworkPolicy');
});

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
});
