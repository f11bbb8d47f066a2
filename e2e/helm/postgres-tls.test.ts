// The chart's PostgreSQL TLS contract: every container that opens PostgreSQL (api, worker, operator,
// migrate) gets the sslmode, and the files its connection builder will read are exactly the files
// the chart mounts read-only from the named Secrets (the CA under its key, the client certificate
// from a kubernetes.io/tls Secret); the URL and the password come from existing Secrets only.
import { describe, expect, it } from 'vitest';
import { postgresConnection } from '../../core/postgres/connection.js';
import { podSpecOf, run, template, templateArgs, tools, type K8sObject } from './chart.js';

const TLS = [
  'postgres.tls.sslmode=verify-full',
  'postgres.tls.caSecret.name=pg-ca',
  'postgres.tls.caSecret.key=bundle.pem',
  'postgres.tls.clientCertSecret=pg-client',
];
const COMPONENTS = ['api', 'worker', 'operator', 'migrate'];

interface Container {
  name: string;
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
  volumeMounts?: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}

function containers(objects: K8sObject[]): Array<{ c: Container; volumes: any[] }> {
  return objects.flatMap((o) => {
    const pod = podSpecOf(o);
    if (!pod || o.kind === 'Pod') return [];
    return (pod.containers as Container[]).map((c) => ({ c, volumes: pod.volumes ?? [] }));
  });
}

const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));

/** The Secret and key a file path inside the container comes from, following mount → volume → item. */
function secretFileAt(path: string, c: Container, volumes: any[]): { secret: string; key: string; mode?: number } | undefined {
  for (const m of c.volumeMounts ?? []) {
    if (!path.startsWith(`${m.mountPath}/`)) continue;
    expect(m.readOnly, `${c.name}: ${m.mountPath} must be mounted read-only`).toBe(true);
    const vol = volumes.find((v) => v.name === m.name);
    const item = vol?.secret?.items?.find((i: { path: string }) => i.path === path.slice(m.mountPath.length + 1));
    if (vol?.secret && item) return { secret: vol.secret.secretName, key: item.key, mode: vol.secret.defaultMode };
  }
  return undefined;
}

describe('chart: PostgreSQL TLS values', () => {
  it('by default: no PG_SSL* variable and no certificate volume (plain, as before)', async () => {
    for (const { c, volumes } of containers(await template())) {
      expect(Object.keys(envOf(c)).filter((n) => n.startsWith('PG_SSL')), c.name).toEqual([]);
      expect(volumes.map((v: { name: string }) => v.name).filter((n: string) => n.startsWith('postgres-')), c.name).toEqual([]);
    }
  });

  it('each component reads its CA and client certificate from the Secrets named in values, mounted read-only', async () => {
    const seen: string[] = [];
    for (const { c, volumes } of containers(await template({ set: TLS }))) {
      seen.push(c.name);
      const env = envOf(c);
      expect(env.PG_SSLMODE?.value, c.name).toBe('verify-full');
      // What core/postgres/connection.ts will open, given this environment:
      const opened: string[] = [];
      const conn = postgresConnection(
        { DATABASE_URL: env.DATABASE_URL!.value!, PG_SSLMODE: env.PG_SSLMODE!.value, PG_SSLROOTCERT: env.PG_SSLROOTCERT?.value, PG_SSLCERT: env.PG_SSLCERT?.value, PG_SSLKEY: env.PG_SSLKEY?.value },
        (path) => (opened.push(path), Buffer.from('pem')),
      );
      expect(conn.sslmode).toBe('verify-full');
      expect(opened.map((p) => secretFileAt(p, c, volumes))).toEqual([
        { secret: 'pg-ca', key: 'bundle.pem', mode: undefined },
        { secret: 'pg-client', key: 'tls.crt', mode: 0o440 },
        { secret: 'pg-client', key: 'tls.key', mode: 0o440 },
      ]);
    }
    expect(seen.sort()).toEqual([...COMPONENTS].sort());
  });

  it('the URL from an existing Secret, and no password Secret for client-certificate auth', async () => {
    const objects = await template({ set: [...TLS, 'postgres.urlSecret.name=pg-url', 'postgres.existingSecret='] });
    for (const { c } of containers(objects)) {
      const env = envOf(c);
      expect(env.DATABASE_URL, c.name).toEqual({ name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: 'pg-url', key: 'database-url' } } });
      expect(env.PGPASSWORD, c.name).toBeUndefined();
    }
  });

  it.each([
    [['postgres.tls.sslmode=verify-full'], /postgres\.tls\.caSecret\.name is required when postgres\.tls\.sslmode is verify-full/],
    [['postgres.tls.sslmode=verify-ca'], /postgres\.tls\.caSecret\.name is required when postgres\.tls\.sslmode is verify-ca/],
    [['postgres.tls.caSecret.name=pg-ca'], /postgres\.tls\.caSecret \/ postgres\.tls\.clientCertSecret need postgres\.tls\.sslmode require, verify-ca or verify-full/],
    [['postgres.tls.sslmode=prefer'], /at '\/postgres\/tls\/sslmode': value must be one of '', 'disable', 'require', 'verify-ca', 'verify-full'/],
    [['postgres.tls.clientCertSecret=Bad_Name', 'postgres.tls.sslmode=require'], /at '\/postgres\/tls\/clientCertSecret'/],
    [['postgres.sslmode=require'], /at '\/postgres': additional properties 'sslmode' not allowed/],
    [['postgres.existingSecret='], /postgres\.existingSecret is required/],
  ])('refuses %j', async (set, message) => {
    const r = await run(tools().helm, templateArgs({ set }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});
