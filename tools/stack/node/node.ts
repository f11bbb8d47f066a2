// A real Kubernetes node for the local stack: containerd (Debian) + kubelet + kube-proxy + CoreDNS
// in the stack's own network namespace, kube-scheduler beside the control plane. `nodeUp` brings
// it to Ready; `nodeDown` removes every container, mount, cgroup, veth and iptables rule it made.
// See docs/stack.md ("The local node").
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { stringify } from 'yaml';
import { run, type Log } from '../install.js';
import { isOurProcess, sleep, spawnDetached, stopPid, tailFile } from '../proc.js';
import { dataDir as postgresDataDir } from '../services/postgres.js';
import type { StackState } from '../state.js';
import { ensureNodeBinaries, ensureNodePackages, ensurePauseArchive } from './artifacts.js';
import { cgroupRootFor, cniConflist, containerdConfig, kubeletConfig, kubeProxyConfig, nodeDirs, type NodeDirs } from './configs.js';
import { netDown, netLeftovers, netUp, nodeNetFor, type NodeNet } from './net.js';

const START_TIMEOUT_MS = Number(process.env.FLUXGATE_NODE_START_TIMEOUT_MS ?? 180_000);
const COMPONENTS = ['containerd', 'kubelet', 'kube-proxy', 'coredns', 'kube-scheduler'] as const;
type Component = (typeof COMPONENTS)[number];

export interface NodeRecord {
  nodeName: string;
  nodeIp: string;
  hostIp: string;
  binDir: string;
  stateDir: string;
  containerdSock: string;
  pids: Partial<Record<Component, number>>;
}

const recordFile = (stateDir: string) => join(nodeDirs(stateDir).root, 'node.json');

export function readNodeRecord(stateDir: string): NodeRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordFile(stateDir), 'utf8')) as NodeRecord;
  } catch {
    return undefined;
  }
}

/** What a component's command line must contain to be ours (pids get recycled). */
function markers(rec: NodeRecord, c: Component): string[] {
  return [c === 'containerd' ? '/usr/bin/containerd' : join(rec.binDir, c), rec.stateDir];
}

function alive(rec: NodeRecord, c: Component): boolean {
  const pid = rec.pids[c];
  return pid !== undefined && isOurProcess(pid, markers(rec, c));
}

export async function nodeStatus(stateDir: string): Promise<{ running: boolean; record?: NodeRecord }> {
  const rec = readNodeRecord(stateDir);
  if (!rec) return { running: false };
  return { running: COMPONENTS.every((c) => alive(rec, c)), record: rec };
}

export interface NodeUpOptions {
  state: StackState;
  kubeconfig: string;
  cpBinDir: string;
  log: Log;
}

/** Installs/builds what is missing, starts the node and waits until it is Ready. */
export async function nodeUp(o: NodeUpOptions): Promise<NodeRecord> {
  const { state, log } = o;
  const current = await nodeStatus(state.stateDir);
  if (current.running && current.record) {
    log(`node: already running (${current.record.nodeName}, ${current.record.nodeIp})`);
    return current.record;
  }
  if (readNodeRecord(state.stateDir)) await nodeDown(state, log); // half-running: start clean
  if (process.getuid?.() !== 0) throw new Error('node: needs root (network namespace, iptables, mounts, cgroups)');
  await ensureNodePackages(state.cacheDir, log);
  const binDir = await ensureNodeBinaries(state.cacheDir, log);
  const pause = await ensurePauseArchive(state.cacheDir, binDir, log);
  const t0 = Date.now();
  const net = nodeNetFor(state.stackId, state.nodeNet);
  const d = nodeDirs(state.stateDir);
  const rec: NodeRecord = { nodeName: net.nodeName, nodeIp: net.nodeIp, hostIp: net.hostIp, binDir, stateDir: state.stateDir, containerdSock: d.containerdSock, pids: {} };
  try {
    // PostgreSQL takes TLS on its one port; Redis and Kafka have separate TLS (+ SASL) listeners.
    netUp(net, [state.ports.redis, state.ports.redisTls, state.ports.postgres, state.ports.kafkaNode, state.ports.kafkaNodeSaslSsl, state.ports.apiserver]);
    await allowUplinkInPostgres(state, net);
    await allowUplinkInRedis(state);
    prepareDirs(d, net);
    const nodeKubeconfig = writeNodeKubeconfig(o.kubeconfig, d, net, state.ports.apiserver);
    writeConfigs(d, net, pause.ref, nodeKubeconfig);
    await startContainerd(rec, d, net, log);
    await run('ctr', ['--address', d.containerdSock, '-n', 'k8s.io', 'images', 'import', pause.archive], join(d.root, 'ctr.log'));
    // A Node object left by the previous run still says Ready: remove it, so Ready below is fresh.
    await kubectl(o, ['delete', 'node', net.nodeName, '--ignore-not-found', '--wait=true']);
    startNodeProcesses(rec, d, net, nodeKubeconfig, o.kubeconfig);
    await applyApiserverEndpoints(o, net, state.ports.apiserver);
    await waitNodeReady(o, rec, d);
  } catch (err) {
    log(`node: start failed, taking down what was started: ${(err as Error).message.split('\n')[0]}`);
    await nodeDown(state, log).catch((e: Error) => log(`node: cleanup after the failed start: ${e.message}`));
    throw err;
  }
  log(`node: ${net.nodeName} Ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (node IP ${net.nodeIp}, pods ${net.podCidr}, netns ${net.netns}, logs ${d.root}/*.log)`);
  return rec;
}

function saveRecord(rec: NodeRecord): void {
  writeFileSync(recordFile(rec.stateDir), JSON.stringify(rec, null, 2));
}

/** Pods reach PostgreSQL from the uplink address (DNAT keeps the source): let that one in. */
async function allowUplinkInPostgres(state: StackState, net: NodeNet): Promise<void> {
  const hba = join(postgresDataDir(state), 'pg_hba.conf');
  const line = `host all all ${net.nodeIp}/32 scram-sha-256`;
  if (readFileSync(hba, 'utf8').includes(line)) return;
  appendFileSync(hba, `# local node uplink (tools/stack/node)\n${line}\n`);
  const client = new pg.Client({ host: state.postgres.baseDir, port: state.ports.postgres, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    await client.query('SELECT pg_reload_conf()');
  } finally {
    await client.end();
  }
}

/** A Redis started before `--protected-mode no` was in its arguments would refuse the pods. */
async function allowUplinkInRedis(state: StackState): Promise<void> {
  const redis = new Redis({ host: '127.0.0.1', port: state.ports.redis, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.config('SET', 'protected-mode', 'no');
  } finally {
    redis.disconnect();
  }
}

function prepareDirs(d: NodeDirs, net: NodeNet): void {
  // containerd's state dir is runtime state (/run/containerd on a host: empty after a reboot), and
  // one left by a node that was killed, not stopped, holds the tasks of dead shims. The node is not
  // running here, so start it as after a reboot. (The fresh-clone failure first blamed on this was
  // a live containerd taken for dead mid-exec: proc.ts isOurProcess.)
  unmountUnder(d.containerdState);
  rmSync(d.containerdState, { recursive: true, force: true });
  // Every pod's network namespace died with the node, so every lease host-local IPAM still keeps
  // is stale (a killed node never sent CNI DEL for its pods). Kept, they only shrink the /24: after
  // a few killed runs of one stack the kubelet failed every sandbox with "no IP addresses available
  // in range set" and the cluster suite timed out (a fresh clone at a reused path, 2026-11-30).
  rmSync(d.cniIpamDir, { recursive: true, force: true });
  for (const dir of [d.containerdRoot, d.containerdState, d.cniConfDir, d.cniIpamDir, d.kubeletRoot, d.podLogs]) mkdirSync(dir, { recursive: true });
  // The kubelet wants its cgroupRoot to exist in every v1 hierarchy; cpuset children start empty.
  for (const h of cgroupHierarchies()) {
    const dir = join(h, cgroupRootFor(net));
    mkdirSync(dir, { recursive: true });
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      if (existsSync(join(h, f)) && readFileSync(join(dir, f), 'utf8').trim() === '') writeFileSync(join(dir, f), readFileSync(join(h, f)));
    }
  }
}

/** Mounted cgroup hierarchies (v1 controllers and the v2 "unified" one), by mount point. */
function cgroupHierarchies(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length > 9 && f[4]!.startsWith('/sys/fs/cgroup/') && /^cgroup2?$/.test(f[f.indexOf('-') + 1]!))
    .map((f) => f[4]!);
}

/** Kubeconfig for the node's components: the uplink address, verified against the apiserver's "kubernetes" SAN. */
function writeNodeKubeconfig(adminKubeconfig: string, d: NodeDirs, net: NodeNet, apiserverPort: number): string {
  const admin = readFileSync(adminKubeconfig, 'utf8');
  const ca = /certificate-authority-data: (\S+)/.exec(admin)?.[1];
  const token = /token: (\S+)/.exec(admin)?.[1];
  if (!ca || !token) throw new Error(`node: ${adminKubeconfig} has no certificate-authority-data or token`);
  const file = join(d.root, 'node.kubeconfig');
  writeFileSync(file, stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster: { server: `https://${net.hostIp}:${apiserverPort}`, 'certificate-authority-data': ca, 'tls-server-name': 'kubernetes' } }],
    // The admin token (system:masters): a local test node, not a hardened one (see docs/stack.md).
    users: [{ name: 'node', user: { token } }],
    contexts: [{ name: 'local', context: { cluster: 'local', user: 'node' } }],
    'current-context': 'local',
  }), { mode: 0o600 });
  return file;
}

function writeConfigs(d: NodeDirs, net: NodeNet, sandboxImage: string, nodeKubeconfig: string): void {
  writeFileSync(join(d.root, 'containerd.toml'), containerdConfig(d, sandboxImage));
  writeFileSync(join(d.cniConfDir, '10-fluxgate.conflist'), cniConflist(net, d));
  writeFileSync(join(d.root, 'kubelet.yaml'), kubeletConfig(net, d, net.nodeIp));
  writeFileSync(join(d.root, 'kube-proxy.yaml'), kubeProxyConfig(net, nodeKubeconfig));
  writeFileSync(join(d.root, 'Corefile'), corefile(net, nodeKubeconfig));
}

/** CoreDNS on the node address: cluster.local from the apiserver; nothing is forwarded (no upstream). */
function corefile(net: NodeNet, kubeconfig: string): string {
  return `.:53 {
    bind ${net.nodeIp}
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig ${kubeconfig} local
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 10
}
`;
}

function nsSpawn(rec: NodeRecord, net: NodeNet, c: Component, bin: string, args: string[], d: NodeDirs): void {
  rec.pids[c] = spawnDetached('nsenter', [`--net=/run/netns/${net.netns}`, '--', bin, ...args], join(d.root, `${c}.log`));
  saveRecord(rec);
}

async function startContainerd(rec: NodeRecord, d: NodeDirs, net: NodeNet, log: Log): Promise<void> {
  nsSpawn(rec, net, 'containerd', '/usr/bin/containerd', ['--config', join(d.root, 'containerd.toml')], d);
  await waitFor('containerd', rec, d, async () => {
    execFileSync('ctr', ['--address', d.containerdSock, 'version'], { stdio: 'ignore', timeout: 5000 });
    return true;
  });
  log(`node: containerd up (${d.containerdSock})`);
}

function startNodeProcesses(rec: NodeRecord, d: NodeDirs, net: NodeNet, nodeKubeconfig: string, adminKubeconfig: string): void {
  const b = (n: string) => join(rec.binDir, n);
  nsSpawn(rec, net, 'kubelet', b('kubelet'), [
    `--config=${join(d.root, 'kubelet.yaml')}`, `--kubeconfig=${nodeKubeconfig}`, `--root-dir=${d.kubeletRoot}`,
    `--hostname-override=${net.nodeName}`, `--node-ip=${net.nodeIp}`, '--v=1',
  ], d);
  nsSpawn(rec, net, 'kube-proxy', b('kube-proxy'), [`--config=${join(d.root, 'kube-proxy.yaml')}`], d);
  nsSpawn(rec, net, 'coredns', b('coredns'), ['-conf', join(d.root, 'Corefile')], d);
  // The scheduler only talks to the apiserver: host network, admin kubeconfig, no serving port.
  rec.pids['kube-scheduler'] = spawnDetached(b('kube-scheduler'), [
    `--kubeconfig=${adminKubeconfig}`, '--leader-elect=false', '--secure-port=0', `--authentication-kubeconfig=${adminKubeconfig}`,
    `--authorization-kubeconfig=${adminKubeconfig}`, '--profiling=false', '--v=1',
  ], join(d.root, 'kube-scheduler.log'));
  saveRecord(rec);
}

/** The "kubernetes" Service's endpoint (the apiserver writes none for 127.0.0.1): its uplink address. */
async function applyApiserverEndpoints(o: NodeUpOptions, net: NodeNet, apiserverPort: number): Promise<void> {
  const slice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `kubernetes-${net.nodeName}`,
      namespace: 'default',
      labels: { 'kubernetes.io/service-name': 'kubernetes', 'endpointslice.kubernetes.io/managed-by': 'flux-gate-stack' },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [net.hostIp], conditions: { ready: true } }],
    ports: [{ name: 'https', port: apiserverPort, protocol: 'TCP' }],
  };
  await kubectl(o, ['apply', '-f', '-'], JSON.stringify(slice));
}

function kubectl(o: { kubeconfig: string; cpBinDir: string }, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    try {
      resolve(execFileSync(join(o.cpBinDir, 'kubectl'), args, { input, encoding: 'utf8', env: { ...process.env, KUBECONFIG: o.kubeconfig }, stdio: ['pipe', 'pipe', 'pipe'] }));
    } catch (err) {
      reject(new Error(`kubectl ${args.join(' ')}: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`));
    }
  });
}

async function waitNodeReady(o: NodeUpOptions, rec: NodeRecord, d: NodeDirs): Promise<void> {
  await waitFor('kubelet', rec, d, async () => {
    const ready = await kubectl(o, ['get', 'node', rec.nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']).catch(() => '');
    return ready === 'True';
  });
}

/** Polls `ready` while every started component stays alive; the error names the one that died. */
async function waitFor(what: string, rec: NodeRecord, d: NodeDirs, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    for (const c of COMPONENTS) {
      if (rec.pids[c] !== undefined && !alive(rec, c)) {
        throw new Error(`node: ${c} (pid ${rec.pids[c]}) exited; last lines of ${d.root}/${c}.log:\n${tailFile(join(d.root, `${c}.log`), 30)}`);
      }
    }
    if (await ready().catch(() => false)) return;
    await sleep(500);
  }
  throw new Error(`node: ${what} not ready after ${START_TIMEOUT_MS} ms; last lines of ${d.root}/${what}.log:\n${tailFile(join(d.root, `${what}.log`), 30)}`);
}

// ---------------------------------------------------------------- down

/** Stops the node and removes every container, mount, cgroup, veth and iptables rule it made. */
export async function nodeDown(state: StackState, log: Log): Promise<string[]> {
  const rec = readNodeRecord(state.stateDir);
  const net = nodeNetFor(state.stackId, state.nodeNet);
  const d = nodeDirs(state.stateDir);
  const done: string[] = [];
  if (rec) {
    for (const c of ['kube-scheduler', 'kubelet', 'kube-proxy', 'coredns'] as const) {
      if (alive(rec, c)) done.push(`${c} ${await stopPid(rec.pids[c]!, 'SIGTERM', 15_000)}`);
    }
    if (alive(rec, 'containerd')) {
      done.push(...removeContainers(d));
      done.push(`containerd ${await stopPid(rec.pids.containerd!, 'SIGTERM', 15_000)}`);
    }
  }
  done.push(...(await killShims(d)));
  done.push(...unmountUnder(d.root));
  done.push(...removeCgroups(net));
  done.push(...netDown(net));
  rmSync(recordFile(state.stateDir), { force: true });
  if (done.length > 0) log(`node: down (${done.join(', ')})`);
  return done;
}

function ctr(d: NodeDirs, args: string[]): string {
  return execFileSync('ctr', ['--address', d.containerdSock, '-n', 'k8s.io', ...args], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Kills and deletes every task and container of this node's containerd (pods, sandboxes). */
function removeContainers(d: NodeDirs): string[] {
  const ids = ctr(d, ['containers', 'ls', '-q']).split('\n').filter(Boolean);
  for (const id of ids) {
    try {
      ctr(d, ['tasks', 'kill', '-a', '-s', 'SIGKILL', id]);
    } catch {
      /* no running task */
    }
  }
  for (const id of ids) {
    for (let i = 0; i < 20; i++) {
      try {
        ctr(d, ['tasks', 'delete', '-f', id]);
        break;
      } catch (err) {
        if (/not found/.test((err as { stderr?: string }).stderr ?? '')) break;
        execFileSync('sleep', ['0.2']);
      }
    }
    try {
      ctr(d, ['containers', 'delete', id]);
    } catch {
      /* already gone */
    }
  }
  return ids.length > 0 ? [`${ids.length} containers removed`] : [];
}

/** containerd shims outlive containerd: end the ones serving this node's socket, by pid. */
async function killShims(d: NodeDirs): Promise<string[]> {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  const pids = out.split('\n').filter((l) => l.includes('containerd-shim') && l.includes(d.containerdSock)).map((l) => Number(l.trim().split(/\s+/)[0]));
  for (const pid of pids) await stopPid(pid, 'SIGKILL', 5000).catch(() => undefined);
  return pids.length > 0 ? [`${pids.length} shims killed`] : [];
}

/** Unmounts everything under dir (pod volumes, overlay rootfs, pod network namespaces), deepest first. */
function unmountUnder(dir: string): string[] {
  const points = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const p of points) execFileSync('umount', ['-l', p], { stdio: 'ignore' });
  return points.length > 0 ? [`${points.length} mounts removed`] : [];
}

function removeCgroups(net: NodeNet): string[] {
  let removed = 0;
  const rmTree = (dir: string): void => {
    if (!existsSync(dir)) return;
    const children = execFileSync('find', [dir, '-mindepth', '1', '-maxdepth', '1', '-type', 'd'], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const c of children) rmTree(c);
    // A container whose shim was killed with the node (not stopped) still runs in its cgroup, and a
    // cgroup with processes cannot be removed: end them first, then retry while they exit.
    for (let i = 0; ; i++) {
      killCgroupProcs(dir);
      try {
        execFileSync('rmdir', [dir], { stdio: 'pipe' });
        break;
      } catch (err) {
        if (i >= 50) throw err;
        execFileSync('sleep', ['0.1']);
      }
    }
    removed++;
  };
  for (const h of cgroupHierarchies()) rmTree(join(h, cgroupRootFor(net)));
  return removed > 0 ? [`${removed} cgroups removed`] : [];
}

function killCgroupProcs(dir: string): void {
  let pids: number[] = [];
  try {
    pids = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
}

/** Everything of the node that still exists on the machine (empty after nodeDown). */
export function nodeLeftovers(state: StackState): string[] {
  const net = nodeNetFor(state.stackId, state.nodeNet);
  const d = nodeDirs(state.stateDir);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((p) => p.startsWith(d.root + '/'));
  const cgroups = cgroupHierarchies().filter((h) => existsSync(join(h, cgroupRootFor(net))));
  const ps = execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(d.root) || l.includes(d.containerdSock));
  return [...netLeftovers(net), ...mounts.map((m) => `mount ${m}`), ...cgroups.map((c) => `cgroup ${c}${cgroupRootFor(net)}`), ...ps.map((p) => `process ${p}`)];
}
