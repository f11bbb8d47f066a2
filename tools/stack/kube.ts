// Test helpers around the control plane's admin kubeconfig (see controlplane.ts): ServiceAccount
// tokens and kubeconfigs bound to them, so a test can act with exactly the permissions of an
// RBAC role (e.g. the operator's ClusterRole) instead of system:masters.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';

interface KubeconfigDoc {
  clusters?: { name: string; cluster: { server: string; 'certificate-authority-data'?: string } }[];
  users?: { name: string; user: { token?: string } }[];
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  'current-context'?: string;
}

export interface KubeTarget {
  server: string;
  ca: Buffer;
  token: string;
}

function adminKubeconfigPath(kubeconfig?: string): string {
  const path = kubeconfig ?? process.env.KUBECONFIG;
  if (!path) throw new Error('no kubeconfig: pass one or set KUBECONFIG (npm run stack:env prints it)');
  return path;
}

/** Server, CA and bearer token of a token-based kubeconfig (the kind controlplane.ts writes). */
export function readKubeconfig(kubeconfig?: string): KubeTarget {
  const path = adminKubeconfigPath(kubeconfig);
  const doc = parse(readFileSync(path, 'utf8')) as KubeconfigDoc;
  const ctx = doc.contexts?.find((c) => c.name === doc['current-context'])?.context;
  const cluster = doc.clusters?.find((c) => c.name === ctx?.cluster)?.cluster;
  const token = doc.users?.find((u) => u.name === ctx?.user)?.user.token;
  const caData = cluster?.['certificate-authority-data'];
  if (!cluster || !token || !caData) {
    throw new Error(`${path}: expected a current context with a server, certificate-authority-data and a bearer token`);
  }
  return { server: cluster.server, ca: Buffer.from(caData, 'base64'), token };
}

/** One JSON request to the apiserver; returns status and parsed body (or raw text). */
export function kubeRequest(
  target: KubeTarget,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = request(new URL(path, target.server), {
      method,
      ca: target.ca,
      timeout: 15_000,
      headers: {
        authorization: `Bearer ${target.token}`,
        accept: 'application/json',
        ...(data ? { 'content-type': 'application/json' } : {}),
      },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* keep text */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on('error', reject);
    req.end(data);
  });
}

/**
 * A bound token for ServiceAccount `serviceAccount` in `namespace`, via the TokenRequest API
 * (what `kubectl create token` does), requested with the admin kubeconfig.
 */
export async function tokenFor(
  serviceAccount: string,
  namespace: string,
  o: { kubeconfig?: string; expirationSeconds?: number } = {},
): Promise<string> {
  const admin = readKubeconfig(o.kubeconfig);
  const res = await kubeRequest(admin, 'POST',
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`,
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: o.expirationSeconds ?? 3600 } });
  if (res.status !== 201 || typeof res.body?.status?.token !== 'string') {
    throw new Error(`TokenRequest for serviceaccount ${namespace}/${serviceAccount} failed: HTTP ${res.status} ${JSON.stringify(res.body?.message ?? res.body)}`);
  }
  return res.body.status.token as string;
}

/**
 * Writes a kubeconfig that talks to the same apiserver as the admin kubeconfig but with `token`;
 * returns its path (next to the admin kubeconfig, in tokens/).
 */
export function kubeconfigForToken(token: string, o: { kubeconfig?: string; user?: string } = {}): string {
  const adminPath = adminKubeconfigPath(o.kubeconfig);
  const { server, ca } = readKubeconfig(adminPath);
  const dir = join(dirname(adminPath), 'tokens');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `kubeconfig-${createHash('sha256').update(token).digest('hex').slice(0, 12)}`);
  writeKubeconfig(path, server, ca, token, o.user ?? 'token-user');
  return path;
}

/** Writes a token kubeconfig for the local control plane atomically, readable by its owner only. */
export function writeKubeconfig(path: string, server: string, ca: Buffer, token: string, user: string): void {
  const doc = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'flux-gate', cluster: { server, 'certificate-authority-data': ca.toString('base64') } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: 'flux-gate', context: { cluster: 'flux-gate', user } }],
    'current-context': 'flux-gate',
  };
  writeFileSync(`${path}.tmp`, stringify(doc), { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

const execFileP = promisify(execFile);

/** Runs a binary (kubectl, helm) from the control plane's binDir; throws with its stderr on failure. */
export async function runTool(
  binDir: string,
  tool: 'kubectl' | 'helm',
  args: string[],
  o: { kubeconfig?: string; input?: string } = {},
): Promise<string> {
  const env = { ...process.env, KUBECONFIG: adminKubeconfigPath(o.kubeconfig) };
  const p = execFileP(join(binDir, tool), args, { env, maxBuffer: 16 * 1024 * 1024 });
  if (o.input !== undefined) p.child.stdin?.end(o.input);
  try {
    return (await p).stdout;
  } catch (e) {
    const err = e as { stderr?: string; code?: number };
    throw new Error(`${tool} ${args.join(' ')} failed (exit ${err.code}): ${err.stderr ?? e}`);
  }
}
