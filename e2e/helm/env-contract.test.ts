// The environment the chart gives each container matches what that component reads
// (its VarSpec table, the same one the README documents): every variable the chart sets is
// declared, and every required variable is set, in each Redis mode.
import { describe, expect, it } from 'vitest';
import type { VarSpec } from '../../core/config/env.js';
import { ALL_ON, podSpecOf, template } from './chart.js';

/** Read by libraries or Kubernetes itself rather than by Flux-Gate's config loader. */
const NOT_CONFIG = new Set([
  'PGPASSWORD', // node-postgres, when DATABASE_URL has no password
  'POD_NAME', // downward API, for logs and the leader-election identity
  'POD_NAMESPACE',
]);

async function componentVars(): Promise<Record<string, Record<string, VarSpec>>> {
  const [api, worker, migrate, operator] = await Promise.all([
    import('../../api/config.js'),
    import('../../worker/config.js'),
    import('../../core/postgres/migrate-main.js'),
    import('../../operator/config.js'),
  ]);
  return { api: api.apiVars, worker: worker.workerVars, migrate: migrate.migrateVars, operator: operator.operatorVars };
}

const renders: Array<[string, { valuesFiles?: string[]; set?: string[] }]> = [
  ['redis single, no password', {}],
  ['redis single with a password Secret', { set: ['redis.auth.existingSecret.name=redis-auth'] }],
  ['redis single, TLS with a CA and a client certificate, an ACL user', { set: ['redis.tls.enabled=true', 'redis.tls.caSecret.name=redis-ca', 'redis.tls.clientCertSecret=redis-client', 'redis.auth.username=fluxgate-api', 'redis.auth.existingSecret.name=redis-auth'] }],
  ['redis sentinel (all-on)', { valuesFiles: [ALL_ON] }],
  ['redis cluster', { set: ['redis.mode=cluster', 'redis.cluster.nodes={rc-0:6379,rc-1:6379}', 'redis.auth.existingSecret.name=redis-auth', 'redis.tls.enabled=true'] }],
  ['kafka TLS (CA, client certificate) + SASL', { set: ['kafka.tls.enabled=true', 'kafka.tls.caSecret.name=kafka-ca', 'kafka.tls.clientCertSecret=kafka-client', 'kafka.sasl.mechanism=plain', ...['api', 'worker', 'operator'].flatMap((c) => [`kafka.sasl.${c}.username=fg-${c}`, `kafka.sasl.${c}.existingSecret.name=kafka-${c}`])] }],
];

describe('container environment vs the components’ declared variables', () => {
  it.each(renders)('%s', async (_name, opts) => {
    const vars = await componentVars();
    const objects = await template(opts);
    let checked = 0;
    for (const o of objects) {
      const pod = podSpecOf(o);
      if (!pod || o.kind === 'Pod') continue; // the helm test Pod runs plain node
      for (const c of pod.containers) {
        const spec = vars[c.name];
        expect(spec, `no VarSpec table known for container ${c.name}`).toBeDefined();
        const env: Array<{ name: string; value?: string }> = c.env ?? [];
        const names = new Set(env.map((e) => e.name));
        const interpolated = new Set(env.flatMap((e) => [...(e.value ?? '').matchAll(/\$\(([A-Z0-9_]+)\)/g)].map((m) => m[1]!)));
        const undeclared = [...names].filter((n) => !(n in spec!) && !NOT_CONFIG.has(n) && !interpolated.has(n));
        expect(undeclared, `${o.kind}/${o.metadata.name} sets variables ${c.name} does not read`).toEqual([]);
        const missing = Object.entries(spec!).filter(([n, s]) => s.default === undefined && !s.optional && !names.has(n)).map(([n]) => n);
        expect(missing, `${o.kind}/${o.metadata.name} lacks required variables of ${c.name}`).toEqual([]);
        for (const n of interpolated) expect(env.findIndex((e) => e.name === n), `${n} must be defined before it is used`).toBeLessThan(env.findIndex((e) => e.value?.includes(`$(${n})`)));
        checked++;
      }
    }
    expect(checked).toBe(4); // api, worker, operator, migrate
  });
});
