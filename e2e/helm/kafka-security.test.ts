// The chart's Kafka TLS and SASL values: each component gets its own SASL user with the password
// from its own existing Secret, the CA bundle and client certificate are mounted read-only from
// Secrets at the paths KAFKA_TLS_*_FILE name, and nothing of it appears when the values are off.
import { describe, expect, it } from 'vitest';
import { podSpecOf, template, type K8sObject } from './chart.js';

const SECURED = [
  'kafka.tls.enabled=true',
  'kafka.tls.caSecret.name=kafka-ca',
  'kafka.tls.caSecret.key=bundle.pem',
  'kafka.tls.clientCertSecret=kafka-client-tls',
  'kafka.sasl.mechanism=scram-sha-512',
  ...['api', 'worker', 'operator'].flatMap((c) => [`kafka.sasl.${c}.username=fg-${c}`, `kafka.sasl.${c}.existingSecret.name=kafka-${c}`]),
];

function containers(objects: K8sObject[]) {
  return objects.flatMap((o) => {
    const pod = podSpecOf(o);
    if (!pod || o.kind === 'Pod') return [];
    return pod.containers.map((c: any) => ({ name: c.name as string, container: c, pod }));
  });
}

const envOf = (c: any) => new Map<string, any>((c.env ?? []).map((e: any) => [e.name, e]));

/** The Secret volume (and its item key) a file path of the container lands in, or undefined. */
function secretFileSource(pod: any, container: any, path: string) {
  const mount = (container.volumeMounts ?? []).find((m: any) => path.startsWith(`${m.mountPath}/`));
  if (!mount) return undefined;
  const volume = pod.volumes.find((v: any) => v.name === mount.name);
  const file = path.slice(mount.mountPath.length + 1);
  const item = volume?.secret?.items?.find((i: any) => i.path === file);
  return { readOnly: mount.readOnly === true, secretName: volume?.secret?.secretName, key: item?.key, mode: volume?.secret?.defaultMode };
}

describe('chart: Kafka TLS and SASL', () => {
  it('each component logs in as its own user, its password from its own Secret, trusting the CA bundle from a Secret', async () => {
    const all = containers(await template({ set: SECURED }));
    const kafkaUsers = all.filter((c) => c.name !== 'migrate');
    expect(kafkaUsers.map((c) => c.name).sort()).toEqual(['api', 'operator', 'worker']);
    for (const { name, container, pod } of kafkaUsers) {
      const env = envOf(container);
      expect(env.get('KAFKA_TLS')?.value, name).toBe('true');
      expect(env.get('KAFKA_SASL_MECHANISM')?.value, name).toBe('scram-sha-512');
      expect(env.get('KAFKA_SASL_USERNAME')?.value, name).toBe(`fg-${name}`);
      expect(env.get('KAFKA_SASL_PASSWORD'), name).toEqual({ name: 'KAFKA_SASL_PASSWORD', valueFrom: { secretKeyRef: { name: `kafka-${name}`, key: 'password' } } });
      expect(secretFileSource(pod, container, env.get('KAFKA_TLS_CA_FILE')?.value), name).toMatchObject({ readOnly: true, secretName: 'kafka-ca', key: 'bundle.pem' });
      expect(secretFileSource(pod, container, env.get('KAFKA_TLS_CERT_FILE')?.value), name).toMatchObject({ readOnly: true, secretName: 'kafka-client-tls', key: 'tls.crt' });
      expect(secretFileSource(pod, container, env.get('KAFKA_TLS_KEY_FILE')?.value), name).toMatchObject({ readOnly: true, secretName: 'kafka-client-tls', key: 'tls.key', mode: 0o440 });
    }
    // The migration Job talks to PostgreSQL only.
    const migrate = all.find((c) => c.name === 'migrate')!;
    expect([...envOf(migrate.container).keys()].filter((n) => n.startsWith('KAFKA_'))).toEqual([]);
  });

  it('TLS with the system CAs: KAFKA_TLS only, no file and no Secret volume', async () => {
    for (const { name, container, pod } of containers(await template({ set: ['kafka.tls.enabled=true'] })).filter((c) => c.name !== 'migrate')) {
      const env = envOf(container);
      expect(env.get('KAFKA_TLS')?.value, name).toBe('true');
      expect([...env.keys()].filter((n) => n.startsWith('KAFKA_TLS_') || n.startsWith('KAFKA_SASL_')), name).toEqual([]);
      expect(pod.volumes.filter((v: any) => v.secret), name).toEqual([]);
    }
  });

  it('by default: no Kafka TLS or SASL variable, no Kafka volume', async () => {
    for (const { name, container, pod } of containers(await template())) {
      expect([...envOf(container).keys()].filter((n) => /^KAFKA_(TLS|SASL)/.test(n)), name).toEqual([]);
      expect((pod.volumes ?? []).filter((v: any) => v.name.startsWith('kafka-')), name).toEqual([]);
    }
  });
});
