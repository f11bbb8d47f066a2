// The chart's Redis security contract: TLS files come from Secrets mounted read-only where the
// REDIS_TLS_* variables point, every password from an existing Secret (secretKeyRef, never a
// value, never in REDIS_URL), the operator may have its own ACL user, the Sentinels their own
// credentials, and only the api and operator (the processes that use Redis) get any of it.
import { describe, expect, it } from 'vitest';
import { ALL_ON, podSpecOf, template, type K8sObject } from './chart.js';

interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }

function containers(objects: K8sObject[]): Record<string, { env: Map<string, EnvVar>; pod: any; container: any }> {
  const out: Record<string, { env: Map<string, EnvVar>; pod: any; container: any }> = {};
  for (const o of objects) {
    const pod = podSpecOf(o);
    if (!pod || o.kind === 'Pod') continue;
    for (const c of pod.containers) out[c.name] = { env: new Map((c.env ?? []).map((e: EnvVar) => [e.name, e])), pod, container: c };
  }
  return out;
}

/** The file a variable names, resolved to the Secret key mounted there (or undefined when nothing is mounted at that path). */
function secretFileOf(pod: any, container: any, path: string): { secret: string; key: string; readOnly: boolean } | undefined {
  for (const m of container.volumeMounts ?? []) {
    if (!path.startsWith(`${m.mountPath}/`)) continue;
    const vol = pod.volumes.find((v: any) => v.name === m.name);
    const file = path.slice(m.mountPath.length + 1);
    const item = vol?.secret?.items?.find((i: any) => i.path === file);
    if (item) return { secret: vol.secret.secretName, key: item.key, readOnly: m.readOnly === true };
  }
  return undefined;
}

describe('chart: Redis TLS, ACL users and Sentinel auth', () => {
  it('all on: each TLS variable names a file of its Secret, mounted read-only; passwords by secretKeyRef', async () => {
    const c = containers(await template({ valuesFiles: [ALL_ON] }));
    for (const name of ['api', 'operator']) {
      const { env, pod, container } = c[name]!;
      expect(env.get('REDIS_TLS')?.value).toBe('true');
      expect(secretFileOf(pod, container, env.get('REDIS_TLS_CA_FILE')!.value!)).toEqual({ secret: 'redis-ca', key: 'ca.pem', readOnly: true });
      expect(secretFileOf(pod, container, env.get('REDIS_TLS_CERT_FILE')!.value!)).toEqual({ secret: 'flux-gate-redis-client', key: 'tls.crt', readOnly: true });
      expect(secretFileOf(pod, container, env.get('REDIS_TLS_KEY_FILE')!.value!)).toEqual({ secret: 'flux-gate-redis-client', key: 'tls.key', readOnly: true });
      expect(env.get('REDIS_TLS_SERVERNAME')?.value).toBe('redis.example.internal');
      expect(env.get('REDIS_SENTINEL_USERNAME')?.value).toBe('fluxgate');
      expect(env.get('REDIS_SENTINEL_PASSWORD')?.valueFrom).toEqual({ secretKeyRef: { name: 'flux-gate-redis-sentinel', key: 'password' } });
    }
    // one ACL user per process
    expect(c.api!.env.get('REDIS_USERNAME')?.value).toBe('fluxgate-api');
    expect(c.api!.env.get('REDIS_PASSWORD')?.valueFrom).toEqual({ secretKeyRef: { name: 'flux-gate-redis', key: 'password' } });
    expect(c.operator!.env.get('REDIS_USERNAME')?.value).toBe('fluxgate-operator');
    expect(c.operator!.env.get('REDIS_PASSWORD')?.valueFrom).toEqual({ secretKeyRef: { name: 'flux-gate-redis-operator', key: 'password' } });
    // the worker and the migrate Job do not use Redis: no variable, no mounted key
    for (const name of ['worker', 'migrate']) {
      expect([...c[name]!.env.keys()].filter((n) => n.startsWith('REDIS_')), name).toEqual([]);
      expect((c[name]!.pod.volumes ?? []).filter((v: any) => v.name.startsWith('redis')), name).toEqual([]);
    }
  });

  it('single mode: the password never enters REDIS_URL (any character works); the operator falls back to redis.auth', async () => {
    const c = containers(await template({ set: ['redis.tls.enabled=true', 'redis.auth.username=fluxgate', 'redis.auth.existingSecret.name=redis-auth'] }));
    for (const name of ['api', 'operator']) {
      const { env, pod } = c[name]!;
      expect(env.get('REDIS_URL')?.value).toBe('rediss://redis:6379/0');
      expect(env.get('REDIS_USERNAME')?.value).toBe('fluxgate');
      expect(env.get('REDIS_PASSWORD')?.valueFrom).toEqual({ secretKeyRef: { name: 'redis-auth', key: 'redis-password' } });
      // TLS with Node's public CAs: nothing mounted
      expect(env.has('REDIS_TLS_CA_FILE')).toBe(false);
      expect(pod.volumes.filter((v: any) => v.name.startsWith('redis'))).toEqual([]);
    }
  });

  it('defaults: plain Redis, no credentials, nothing mounted', async () => {
    const c = containers(await template());
    expect(c.api!.env.get('REDIS_URL')?.value).toBe('redis://redis:6379/0');
    // Connection settings only (REDIS_REPLICA_ACK_* tune writes, not the connection).
    expect([...c.api!.env.keys()].filter((n) => n.startsWith('REDIS_') && !n.startsWith('REDIS_REPLICA_'))).toEqual(['REDIS_URL']);
  });
});
