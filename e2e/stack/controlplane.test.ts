// The test control plane itself: real versions, kubectl and helm against it, RBAC enforced for
// ServiceAccount tokens, controllers running. Uses the stack's control plane when the global setup
// exported its KUBECONFIG; otherwise starts (and stops) its own under /tmp/fg-cp-test.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlPlaneDown, controlPlaneStatus, controlPlaneUp } from '../../tools/stack/controlplane.js';
import { kubeconfigForToken, kubeRequest, readKubeconfig, runTool, tokenFor } from '../../tools/stack/kube.js';

const OWN_STATE_DIR = '/tmp/fg-cp-test';
const OWN_PORTS = { etcd: 23379, etcdPeer: 23380, apiserver: 26443 };

const kubeVersion = /^\s*(?:require\s+)?k8s\.io\/kubernetes (v\S+)/m.exec(
  readFileSync(new URL('../../tools/stack/k8s-tools/kube/go.mod', import.meta.url), 'utf8'),
)?.[1];
const helmVersion = /^\s*(?:require\s+)?helm\.sh\/helm\/v3 (v\S+)/m.exec(
  readFileSync(new URL('../../tools/stack/k8s-tools/helm/go.mod', import.meta.url), 'utf8'),
)?.[1];

let kubeconfig = '';
let binDir = '';
let ownPlane = false;
const kubectl = (args: string[], o: { kubeconfig?: string; input?: string } = {}) =>
  runTool(binDir, 'kubectl', args, { kubeconfig, ...o });
const uniqueNs = (prefix: string) => `${prefix}-${randomBytes(3).toString('hex')}`;

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, tries = 120): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`never happened: ${what}`);
}

beforeAll(async () => {
  const fromStack = process.env.KUBECONFIG ? await controlPlaneStatus(dirname(process.env.KUBECONFIG)) : { running: false };
  if (fromStack.running && fromStack.kubeconfig && fromStack.binDir) {
    ({ kubeconfig, binDir } = fromStack as { kubeconfig: string; binDir: string });
    return;
  }
  ownPlane = true;
  ({ kubeconfig, binDir } = await controlPlaneUp({
    cacheDir: process.env.FLUXGATE_CACHE_DIR ?? join(homedir(), '.cache', 'flux-gate'),
    stateDir: OWN_STATE_DIR,
    ports: OWN_PORTS,
    log: (s) => process.stderr.write(`${s}\n`),
  }));
}, 45 * 60_000); // a cold machine builds the binaries first

afterAll(async () => {
  if (ownPlane) await controlPlaneDown(OWN_STATE_DIR);
});

describe('test control plane', () => {
  it('reports the real Kubernetes version on the server and in kubectl', async () => {
    const v = JSON.parse(await kubectl(['version', '-o', 'json']));
    expect(kubeVersion).toMatch(/^v1\.\d+\.\d+$/);
    expect(v.serverVersion.gitVersion).toBe(kubeVersion);
    expect(v.clientVersion.gitVersion).toBe(kubeVersion);
    expect(v.serverVersion.major).toBe('1');
  });

  it('is idempotent: up on a running plane reuses it', async () => {
    const status = await controlPlaneStatus(dirname(kubeconfig));
    expect(status).toEqual({ running: true, kubeconfig, binDir });
    if (ownPlane) {
      const again = await controlPlaneUp({ cacheDir: dirname(dirname(binDir)), stateDir: OWN_STATE_DIR, ports: OWN_PORTS, log: () => {} });
      expect(again).toEqual({ kubeconfig, binDir });
    }
  });

  it('refuses to start on a port that is taken, naming it', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as AddressInfo).port;
    const stateDir = mkdtempSync(join(tmpdir(), 'fg-cp-busy-'));
    try {
      await expect(controlPlaneUp({
        cacheDir: dirname(dirname(binDir)),
        stateDir,
        ports: { etcd: port, etcdPeer: OWN_PORTS.etcdPeer + 10, apiserver: OWN_PORTS.apiserver + 10 }, // etcd's port is checked first
        log: () => {},
      })).rejects.toThrow(`port ${port} (etcd) is already in use on 127.0.0.1`);
      expect((await controlPlaneStatus(stateDir)).running).toBe(false);
    } finally {
      busy.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('applies a namespace and a ConfigMap with kubectl', async () => {
    const ns = uniqueNs('cp-apply');
    const manifest = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: ns }, data: { stock: '100' } },
    ].map((d) => JSON.stringify(d)).join('\n---\n');
    const out = await kubectl(['apply', '-f', '-'], { input: manifest });
    expect(out).toBe(`namespace/${ns} created\nconfigmap/settings created\n`);
    const cm = JSON.parse(await kubectl(['get', 'configmap', 'settings', '-n', ns, '-o', 'json']));
    expect(cm.data).toEqual({ stock: '100' });
  });

  it('enforces RBAC on ServiceAccount tokens: 403 without a binding, 200 after a RoleBinding', async () => {
    const ns = uniqueNs('cp-rbac');
    await kubectl(['create', 'namespace', ns]);
    await kubectl(['create', 'serviceaccount', 'reader', '-n', ns]);
    const token = await tokenFor('reader', ns, { kubeconfig });
    const sa = { ...readKubeconfig(kubeconfig), token };

    const denied = await kubeRequest(sa, 'GET', `/api/v1/namespaces/${ns}/secrets`);
    expect(denied.status).toBe(403);
    expect(denied.body.message).toContain(`system:serviceaccount:${ns}:reader`);

    // kubectl with a kubeconfig bound to the token sees the same denial.
    const saKubeconfig = kubeconfigForToken(token, { kubeconfig, user: 'reader' });
    await expect(kubectl(['get', 'secrets', '-n', ns], { kubeconfig: saKubeconfig })).rejects.toThrow(/forbidden/i);

    await kubectl(['create', 'role', 'secret-reader', '--verb=get,list', '--resource=secrets', '-n', ns]);
    await kubectl(['create', 'rolebinding', 'reader-secrets', '--role=secret-reader', `--serviceaccount=${ns}:reader`, '-n', ns]);
    // The RBAC authorizer reads bindings through an informer: allow it to catch up.
    const allowed = await eventually('RoleBinding takes effect', async () => {
      const r = await kubeRequest(sa, 'GET', `/api/v1/namespaces/${ns}/secrets`);
      return r.status === 200 ? r : undefined;
    });
    expect(allowed.body.kind).toBe('SecretList');
    // Still nothing outside the namespace.
    expect((await kubeRequest(sa, 'GET', '/api/v1/namespaces/default/secrets')).status).toBe(403);
  });

  it('runs helm against the server', async () => {
    expect((await runTool(binDir, 'helm', ['version', '--short'], { kubeconfig })).trim()).toMatch(new RegExp(`^${helmVersion}\\b`));
    const chart = mkdtempSync(join(tmpdir(), 'fg-cp-chart-'));
    try {
      mkdirSync(join(chart, 'templates'));
      writeFileSync(join(chart, 'Chart.yaml'), `apiVersion: v2\nname: probe\nversion: 0.1.0\nkubeVersion: ">=1.30.0-0"\n`);
      writeFileSync(join(chart, 'templates', 'cm.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: probe\ndata:\n  kube: "{{ .Capabilities.KubeVersion.Version }}"\n');
      const ns = uniqueNs('cp-helm');
      await runTool(binDir, 'helm', ['install', 'probe', chart, '-n', ns, '--create-namespace'], { kubeconfig });
      const cm = JSON.parse(await kubectl(['get', 'configmap', 'probe', '-n', ns, '-o', 'json']));
      expect(cm.data).toEqual({ kube: kubeVersion });
    } finally {
      rmSync(chart, { recursive: true, force: true });
    }
  });

  it('runs controllers: a Deployment gets a ReplicaSet, a deleted namespace goes away', async () => {
    const ns = uniqueNs('cp-ctrl');
    await kubectl(['create', 'namespace', ns]);
    await kubectl(['create', 'deployment', 'web', '--image=registry.invalid/web:1', '--replicas=2', '-n', ns]);
    const rs = await eventually('ReplicaSet for the Deployment', async () => {
      const list = JSON.parse(await kubectl(['get', 'replicasets', '-n', ns, '-o', 'json']));
      return list.items.length ? list.items : undefined;
    });
    expect(rs).toHaveLength(1);
    expect(rs[0].metadata.ownerReferences[0]).toMatchObject({ kind: 'Deployment', name: 'web' });
    expect(rs[0].spec.replicas).toBe(2);

    await kubectl(['delete', 'namespace', ns, '--wait=false']);
    await eventually('namespace deleted', async () => {
      const r = await kubeRequest(readKubeconfig(kubeconfig), 'GET', `/api/v1/namespaces/${ns}`);
      return r.status === 404 ? true : undefined;
    });
  });
});
