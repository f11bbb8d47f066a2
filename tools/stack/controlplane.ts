// A real Kubernetes control plane for tests, envtest-style: etcd + kube-apiserver (RBAC on)
// + kube-controller-manager, as plain processes on 127.0.0.1, built from Go modules
// (tools/stack/k8s-tools) into a cache folder outside the repo and reused across runs.
// No kubelet and no scheduler: Pods are never scheduled (they stay Pending); see docs/controlplane.md.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeKubeconfig } from './kube.js';
import { isAlive, isOurProcess, sleep, spawnDetached, stopPid, tailFile, tcpOpen, withLock } from './proc.js';

const TOOLS_DIR = fileURLToPath(new URL('./k8s-tools/', import.meta.url));
const BINARIES = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kubectl', 'helm'] as const;
const START_TIMEOUT_MS = Number(process.env.FLUXGATE_CP_START_TIMEOUT_MS ?? 120_000);
const STOP_TIMEOUT_MS = 15_000;
const BUILD_LOCK_TIMEOUT_MS = 3 * 3600_000; // a cold build on a busy machine

export interface ControlPlanePorts {
  etcd: number;
  etcdPeer: number;
  apiserver: number;
}
interface State {
  ports: ControlPlanePorts;
  binDir: string;
  kubeconfig: string;
  pids: Record<string, number>;
}
type Log = (s: string) => void;

// ---------------------------------------------------------------- binaries

/** Cache key: everything that decides the binaries' bytes (module versions, build flags). */
export function binariesKey(): string {
  const h = createHash('sha256');
  for (const f of ['build.sh', 'etcd/go.mod', 'etcd/go.sum', 'kube/go.mod', 'kube/go.sum', 'helm/go.mod', 'helm/go.sum']) {
    h.update(f).update('\0').update(readFileSync(join(TOOLS_DIR, f))).update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

/** Returns the folder holding all binaries, building them on a cache miss (cold: 6–25 min on 2 cores, measured on two machines). */
export async function ensureBinaries(cacheDir: string, log: Log): Promise<string> {
  const root = join(cacheDir, 'k8s-bin');
  const binDir = join(root, binariesKey());
  const complete = () => BINARIES.every((b) => existsSync(join(binDir, b)));
  if (complete()) return binDir;
  mkdirSync(root, { recursive: true });
  // One Go build at a time per machine: several stacks (one per engineer) may start together.
  return withLock(`${binDir}.lock`, BUILD_LOCK_TIMEOUT_MS, 'control plane build', async () => {
    if (complete()) return binDir; // another process built it while we waited
    const buildLog = `${binDir}.build.log`;
    log(`control plane: building etcd, kube-apiserver, kube-controller-manager, kubectl, helm from Go modules ` +
      `into ${binDir} (cold machine: 6 to 25 min on 2 cores, by the machine; warm Go caches: a few min). Build log: ${buildLog}`);
    const t0 = Date.now();
    const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/go/bin` };
    const go = spawnSync('go', ['version'], { env, encoding: 'utf8' });
    const goMinor = Number(/go1\.(\d+)/.exec(go.stdout ?? '')?.[1] ?? 0);
    if (go.status !== 0 || goMinor < 26) {
      throw new Error(`control plane: building the Kubernetes binaries needs Go >= 1.26 on PATH (found: ${go.stdout?.trim() || go.error?.message || 'none'})`);
    }
    const fd = openSync(buildLog, 'w');
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('bash', [join(TOOLS_DIR, 'build.sh'), binDir], { stdio: ['ignore', fd, fd], env });
      child.once('error', reject);
      child.once('exit', (c) => resolve(c));
    }).finally(() => closeSync(fd));
    if (code !== 0 || !complete()) {
      throw new Error(`control plane: Go build failed (exit ${code}); last lines of ${buildLog}:\n${tailFile(buildLog)}`);
    }
    log(`control plane: binaries built in ${Math.round((Date.now() - t0) / 1000)} s`);
    return binDir;
  }, (holder) => log(`control plane: waiting for the build already running in pid ${holder} (lock ${binDir}.lock)`));
}

export async function controlPlaneUp(o: {
  cacheDir: string;
  stateDir: string;
  ports: ControlPlanePorts;
  log: Log;
}): Promise<{ kubeconfig: string; binDir: string }> {
  const { stateDir, ports, log } = o;
  const status = await controlPlaneStatus(stateDir);
  const prev = readState(stateDir);
  if (status.running && prev && samePorts(prev.ports, ports)) {
    log(`control plane: already running (apiserver https://127.0.0.1:${ports.apiserver}), reusing it`);
    return { kubeconfig: prev.kubeconfig, binDir: prev.binDir };
  }
  if (prev) await controlPlaneDown(stateDir); // half-running, or asked for other ports

  const binDir = await ensureBinaries(o.cacheDir, log);
  mkdirSync(stateDir, { recursive: true });
  for (const [name, port] of Object.entries(ports)) {
    if (await tcpOpen(port)) throw new Error(`control plane: port ${port} (${name}) is already in use on 127.0.0.1; pick another or stop its owner`);
  }
  try {
    return await startAll(binDir, o);
  } catch (e) {
    await controlPlaneDown(stateDir).catch(() => undefined); // leave nothing half-started; logs stay
    throw e;
  }
}

async function startAll(binDir: string, o: { stateDir: string; ports: ControlPlanePorts; log: Log }): Promise<{ kubeconfig: string; binDir: string }> {
  const { stateDir, ports, log } = o;
  const t0 = Date.now();
  const secrets = ensureSecrets(stateDir);
  const kubeconfig = join(stateDir, 'kubeconfig');
  const state: State = { ports, binDir, kubeconfig, pids: {} };
  const save = () => writeFileSync(join(stateDir, 'controlplane.json'), JSON.stringify(state, null, 2));

  state.pids.etcd = startProcess(stateDir, join(binDir, 'etcd'), [
    `--name=fluxgate`,
    `--data-dir=${join(stateDir, 'etcd')}`,
    `--listen-client-urls=http://127.0.0.1:${ports.etcd}`,
    `--advertise-client-urls=http://127.0.0.1:${ports.etcd}`,
    `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
    `--initial-cluster=fluxgate=http://127.0.0.1:${ports.etcdPeer}`,
    `--unsafe-no-fsync=true`,
    `--log-level=warn`,
  ]);
  save();
  const phases: string[] = [];
  phases.push(await waitUntil('etcd', stateDir, state.pids.etcd, async () => (await httpGet(`http://127.0.0.1:${ports.etcd}/health`)).body.includes('"health":"true"')));

  const server = `https://127.0.0.1:${ports.apiserver}`;
  state.pids['kube-apiserver'] = startProcess(stateDir, join(binDir, 'kube-apiserver'), [
    `--etcd-servers=http://127.0.0.1:${ports.etcd}`,
    `--cert-dir=${join(stateDir, 'pki')}`, // the apiserver writes a self-signed serving pair here once
    `--secure-port=${ports.apiserver}`,
    `--bind-address=127.0.0.1`,
    `--advertise-address=127.0.0.1`,
    `--service-cluster-ip-range=10.0.0.0/24`,
    `--service-account-issuer=${server}`,
    `--service-account-key-file=${secrets.saPub}`,
    `--service-account-signing-key-file=${secrets.saKey}`,
    `--authorization-mode=RBAC`,
    `--token-auth-file=${secrets.tokens}`,
    // ServiceAccount admission stays on: pods on the local node (tools/stack/node) get their
    // token mounted; the controller-manager creates every namespace's "default" account.
    `--allow-privileged=true`,
    `--endpoint-reconciler-type=none`, // no "kubernetes" Endpoints for 127.0.0.1 (rejected as loopback)
    // The local node's name resolves nowhere: reach its kubelet (logs, exec) by its address.
    `--kubelet-preferred-address-types=InternalIP,Hostname`,
  ], { NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' });
  save();
  const caFile = join(stateDir, 'pki', 'apiserver.crt');
  phases.push(await waitUntil('kube-apiserver', stateDir, state.pids['kube-apiserver'], async () => {
    if (!existsSync(caFile)) return false;
    const ready = await httpGet(`${server}/readyz`, { ca: readFileSync(caFile) });
    if (ready.status !== 200) return false;
    const ns = await httpGet(`${server}/api/v1/namespaces/default`, { ca: readFileSync(caFile), token: secrets.adminToken });
    return ns.status === 200;
  }));
  writeKubeconfig(kubeconfig, server, readFileSync(caFile), secrets.adminToken, 'admin');

  const kcmKubeconfig = join(stateDir, 'kube-controller-manager.kubeconfig');
  writeKubeconfig(kcmKubeconfig, server, readFileSync(caFile), secrets.kcmToken, 'kube-controller-manager');
  state.pids['kube-controller-manager'] = startProcess(stateDir, join(binDir, 'kube-controller-manager'), [
    `--kubeconfig=${kcmKubeconfig}`,
    `--authentication-kubeconfig=${kcmKubeconfig}`,
    `--authorization-kubeconfig=${kcmKubeconfig}`,
    `--secure-port=0`, // no health port: keeps the contract at three ports; readiness is checked below
    `--leader-elect=false`,
    `--use-service-account-credentials=false`,
    `--service-account-private-key-file=${secrets.saKey}`,
    `--root-ca-file=${caFile}`,
  ]);
  save();
  // The controllers run when the serviceaccount controller gives a fresh namespace its "default"
  // ServiceAccount (a fresh one: after a restart, older namespaces already have theirs).
  const admin = { ca: readFileSync(caFile), token: secrets.adminToken };
  const probeNs = `controlplane-probe-${Date.now()}`;
  const created = await httpGet(`${server}/api/v1/namespaces`, { ...admin, method: 'POST', json: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: probeNs } } });
  if (created.status !== 201) throw new Error(`control plane: could not create namespace ${probeNs}: HTTP ${created.status} ${created.body}`);
  phases.push(await waitUntil('kube-controller-manager', stateDir, state.pids['kube-controller-manager'], async () =>
    (await httpGet(`${server}/api/v1/namespaces/${probeNs}/serviceaccounts/default`, admin)).status === 200,
  ));
  await httpGet(`${server}/api/v1/namespaces/${probeNs}`, { ...admin, method: 'DELETE' });
  log(`control plane: up in ${((Date.now() - t0) / 1000).toFixed(1)} s (${phases.join(', ')}), apiserver ${server}, KUBECONFIG=${kubeconfig}, logs in ${stateDir}/*.log`);
  return { kubeconfig, binDir };
}

/** Stops the controller-manager, then the apiserver, then etcd (SIGTERM, SIGKILL after 15 s). Data stays in stateDir. */
export async function controlPlaneDown(stateDir: string): Promise<void> {
  const state = readState(stateDir);
  if (!state) return;
  for (const name of ['kube-controller-manager', 'kube-apiserver', 'etcd']) {
    const pid = state.pids[name];
    if (pid !== undefined && isOurProcess(pid, [join(state.binDir, name)])) await stopPid(pid, 'SIGTERM', STOP_TIMEOUT_MS);
  }
  rmSync(join(stateDir, 'controlplane.json'), { force: true });
}

export async function controlPlaneStatus(stateDir: string): Promise<{ running: boolean; kubeconfig?: string; binDir?: string }> {
  const state = readState(stateDir);
  if (!state) return { running: false };
  const allAlive = ['etcd', 'kube-apiserver', 'kube-controller-manager'].every((n) => {
    const pid = state.pids[n];
    return pid !== undefined && isOurProcess(pid, [join(state.binDir, n)]);
  });
  const caFile = join(stateDir, 'pki', 'apiserver.crt');
  const ready = allAlive && existsSync(caFile) &&
    (await httpGet(`https://127.0.0.1:${state.ports.apiserver}/readyz`, { ca: readFileSync(caFile) }).then((r) => r.status === 200, () => false));
  return ready ? { running: true, kubeconfig: state.kubeconfig, binDir: state.binDir } : { running: false };
}

// ---------------------------------------------------------------- credentials

function ensureSecrets(stateDir: string) {
  const saKey = join(stateDir, 'sa.key');
  const saPub = join(stateDir, 'sa.pub');
  if (!existsSync(saKey) || !existsSync(saPub)) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    writeFileSync(saKey, privateKey, { mode: 0o600 });
    writeFileSync(saPub, publicKey);
  }
  // Static tokens: kept across restarts so existing kubeconfigs stay valid.
  const tokens = join(stateDir, 'tokens.csv');
  if (!existsSync(tokens)) {
    const t = () => randomBytes(24).toString('hex');
    writeFileSync(tokens,
      `${t()},admin,admin,"system:masters"\n` +
      `${t()},system:kube-controller-manager,system:kube-controller-manager,"system:masters"\n`, { mode: 0o600 });
  }
  const lines = readFileSync(tokens, 'utf8').trim().split('\n').map((l) => l.split(','));
  const tokenOf = (user: string) => {
    const t = lines.find((l) => l[1] === user)?.[0];
    if (!t) throw new Error(`control plane: ${tokens} has no token for ${user}; delete the file to regenerate it`);
    return t;
  };
  return { saKey, saPub, tokens, adminToken: tokenOf('admin'), kcmToken: tokenOf('system:kube-controller-manager') };
}


// ---------------------------------------------------------------- processes

function startProcess(stateDir: string, bin: string, args: string[], env: Record<string, string> = {}): number {
  // detached: the process outlives `npm run stack:up`; its pid is kept in controlplane.json.
  return spawnDetached(bin, args, join(stateDir, `${bin.split('/').pop()!}.log`), { env: { ...process.env, ...env } });
}

/** Polls `ready` until true; returns the seconds it took (for the start log line). */
async function waitUntil(name: string, stateDir: string, pid: number, ready: () => Promise<boolean>): Promise<string> {
  const t0 = Date.now();
  const deadline = t0 + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) {
      throw new Error(`control plane: ${name} (pid ${pid}) exited during start; last lines of ${stateDir}/${name}.log:\n${tailFile(join(stateDir, `${name}.log`))}`);
    }
    if (await ready().catch(() => false)) return `${name} ${((Date.now() - t0) / 1000).toFixed(1)} s`;
    await sleep(250);
  }
  throw new Error(`control plane: ${name} (pid ${pid}) not ready after ${START_TIMEOUT_MS} ms; last lines of ${stateDir}/${name}.log:\n${tailFile(join(stateDir, `${name}.log`))}`);
}

// ---------------------------------------------------------------- small helpers

function readState(stateDir: string): State | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, 'controlplane.json'), 'utf8')) as State;
  } catch {
    return undefined;
  }
}

function samePorts(a: ControlPlanePorts, b: ControlPlanePorts): boolean {
  return a.etcd === b.etcd && a.etcdPeer === b.etcdPeer && a.apiserver === b.apiserver;
}

function httpGet(url: string, o: { ca?: Buffer; token?: string; method?: string; json?: unknown } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const headers: Record<string, string> = o.token ? { authorization: `Bearer ${o.token}` } : {};
    const data = o.json === undefined ? undefined : JSON.stringify(o.json);
    if (data) headers['content-type'] = 'application/json';
    const opts = { method: o.method ?? 'GET', headers, timeout: 5000, ...(u.protocol === 'https:' ? { ca: o.ca } : {}) };
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout on ${url}`)));
    req.on('error', reject);
    req.end(data);
  });
}
