// The local stack as a whole: `up` (install what is missing, start what is not running, wait until
// everything answers), `down`, `status` and the environment that points clients at it.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadControlPlane } from './controlplane-bridge.js';
import { ensureKafkaLibs, ensurePackages, type Log } from './install.js';
import { nodeDown, nodeStatus, nodeUp, type NodeRecord } from './node/node.js';
import { withLock } from './proc.js';
import { stackPaths, type StackPaths } from './paths.js';
import { DRIVERS, SERVICE_NAMES, ensureService, serviceStatus, stopService, type ServiceName, type ServiceStatus } from './services/index.js';
import { forgetBrokerJit, stackKafkaUsers } from './services/kafka.js';
import { postgresBaseDirFor, postgresTlsEnv } from './services/postgres.js';
import { STACK_REDIS_USERS } from './services/redis.js';
import { ensureStackPki } from './certs.js';
import { DEFAULT_KAFKA_VERSION, loadOrCreateState, readState, requireState, type StackState } from './state.js';

export type ComponentName = ServiceName | 'controlplane' | 'node';

export interface UpOptions {
  /** Start etcd + kube-apiserver too (default true; needs tools/stack/controlplane.ts). */
  k8s?: boolean;
  /** Also start the local Kubernetes node (kubelet, containerd, …; needs root); implies k8s. */
  node?: boolean;
  log?: Log;
  env?: NodeJS.ProcessEnv;
}

export interface UpResult {
  state: StackState;
  /** Components this call started (the rest were already running). */
  started: ComponentName[];
  env: StackEnv;
}

/** `up` failed; `started` lists what it had started anyway (still running, for the caller to stop). */
export class StackUpError extends Error {
  constructor(
    message: string,
    readonly started: ComponentName[],
  ) {
    super(message);
  }
}

export interface StackEnv {
  vars: Record<string, string>;
  /** A directory to put first on PATH (kubectl, helm…), when the control plane is up. */
  pathPrepend?: string;
}

const noLog: Log = () => undefined;

export async function up(opts: UpOptions = {}): Promise<UpResult> {
  const log = opts.log ?? noLog;
  const paths = stackPaths(opts.env ?? process.env);
  mkdirSync(paths.stateDir, { recursive: true });
  return withLock(join(paths.stateDir, 'up.lock'), 30 * 60_000, `stack ${paths.stackId} up`, () => upLocked(paths, opts, log));
}

async function upLocked(paths: StackPaths, opts: UpOptions, log: Log): Promise<UpResult> {
  const env = opts.env ?? process.env;
  const kafkaVersion = env.FLUXGATE_KAFKA_VERSION || DEFAULT_KAFKA_VERSION;
  mkdirSync(join(paths.cacheDir, 'locks'), { recursive: true });
  const state = await withLock(join(paths.cacheDir, 'locks', 'ports.lock'), 60_000, 'port allocation', () =>
    loadOrCreateState(paths, postgresBaseDirFor(paths.stackId, paths.stateDir), kafkaVersion),
  );
  if (state.kafka.version !== kafkaVersion) {
    log(`note: this stack's Kafka data was formatted by ${state.kafka.version}; keeping it (stack:down -- --purge to switch to ${kafkaVersion})`);
  }
  await ensurePackages(paths.cacheDir, log);
  await ensureKafkaLibs(paths.cacheDir, state.kafka.version, log);

  const started: ComponentName[] = [];
  const errors: string[] = [];
  const ctx = { state, log };
  // The control plane does not depend on the services: start everything at once.
  const [results] = await Promise.all([
    Promise.allSettled(SERVICE_NAMES.map((name) => ensureService(ctx, name))),
    opts.k8s === false ? Promise.resolve() : ensureControlPlane(state, log, started, errors),
  ]);
  results.forEach((r, i) => {
    const name = SERVICE_NAMES[i]!;
    if (r.status === 'fulfilled') {
      if (r.value === 'started') started.push(name);
      log(`${name}: ${r.value === 'started' ? 'started' : 'already running'} — ${DRIVERS[name].url(state)}`);
    } else {
      errors.push(`✗ ${(r.reason as Error).message}`);
    }
  });
  // The node needs the services (pg_hba, Kafka's node listener) and the control plane.
  if (opts.node && errors.length === 0) await ensureNode(state, log, started, errors);
  if (errors.length > 0) {
    throw new StackUpError(`local stack ${state.stackId} is not fully up (state ${state.stateDir}):\n${errors.join('\n')}`, started);
  }
  return { state, started, env: await stackEnv(state.stateDir) };
}

async function ensureControlPlane(state: StackState, log: Log, started: ComponentName[], errors: string[]): Promise<void> {
  const cp = await loadControlPlane();
  if (!cp) {
    log('control plane: skipped (tools/stack/controlplane.ts is not there)');
    return;
  }
  try {
    const status = await cp.controlPlaneStatus(state.stateDir);
    if (status.running) {
      log(`control plane: already running — KUBECONFIG=${status.kubeconfig}`);
      return;
    }
    const { etcd, etcdPeer, apiserver } = state.ports;
    const res = await cp.controlPlaneUp({ cacheDir: state.cacheDir, stateDir: state.stateDir, ports: { etcd, etcdPeer, apiserver }, log });
    started.push('controlplane');
    log(`control plane: started — KUBECONFIG=${res.kubeconfig}`);
  } catch (err) {
    const message = (err as Error).message;
    errors.push(`✗ ${message.startsWith('control plane') ? message : `control plane: ${message}`}`);
  }
}

async function ensureNode(state: StackState, log: Log, started: ComponentName[], errors: string[]): Promise<void> {
  const cp = await loadControlPlane();
  const cpStatus = cp ? await cp.controlPlaneStatus(state.stateDir) : { running: false };
  if (!cpStatus.running || !cpStatus.kubeconfig || !cpStatus.binDir) {
    errors.push('✗ node: the control plane is not running, so no node can join it');
    return;
  }
  try {
    if ((await nodeStatus(state.stateDir)).running) {
      log('node: already running');
      return;
    }
    await nodeUp({ state, kubeconfig: cpStatus.kubeconfig, cpBinDir: cpStatus.binDir, log });
    started.push('node');
  } catch (err) {
    const message = (err as Error).message;
    errors.push(`✗ ${message.startsWith('node') ? message : `node: ${message}`}`);
  }
}

export interface DownOptions {
  /** Only these components (default: all). */
  only?: ComponentName[];
  /** Also delete the stack's data and state (ports are chosen afresh next time). */
  purge?: boolean;
  log?: Log;
}

export async function down(stateDir: string, opts: DownOptions = {}): Promise<void> {
  const log = opts.log ?? noLog;
  const state = readState(stateDir);
  if (!state) {
    log(`no local stack at ${stateDir}: nothing to stop`);
    return;
  }
  const wanted = (c: ComponentName) => opts.only === undefined || opts.only.includes(c);
  const errors: string[] = [];
  // The node first: its kubelet still talks to the apiserver while its pods are removed.
  if (wanted('node') || wanted('controlplane')) {
    try {
      await nodeDown(state, log);
    } catch (err) {
      errors.push(`node: ${(err as Error).message}`);
    }
  }
  if (wanted('controlplane')) {
    const cp = await loadControlPlane();
    if (cp) {
      try {
        await cp.controlPlaneDown(state.stateDir);
        log('control plane: stopped');
      } catch (err) {
        errors.push(`control plane: ${(err as Error).message}`);
      }
    }
  }
  const names = SERVICE_NAMES.filter(wanted);
  const results = await Promise.allSettled(names.map((name) => stopService(state, name)));
  results.forEach((r, i) => {
    if (r.status === 'fulfilled') log(`${names[i]}: ${r.value}`);
    else errors.push(`${names[i]}: ${(r.reason as Error).message}`);
  });
  if (errors.length > 0) throw new Error(`stack:down left something behind:\n${errors.join('\n')}`);
  if (names.includes('kafka')) forgetBrokerJit(state);
  if (opts.purge) {
    rmSync(state.postgres.baseDir, { recursive: true, force: true });
    rmSync(state.stateDir, { recursive: true, force: true });
    log(`purged ${state.stateDir} and ${state.postgres.baseDir}`);
  }
}

export interface StackStatus {
  state: StackState;
  services: ServiceStatus[];
  controlPlane: { available: boolean; running: boolean; kubeconfig?: string; binDir?: string };
  node: { running: boolean; record?: NodeRecord };
}

export async function status(stateDir: string): Promise<StackStatus> {
  const state = requireState(stateDir);
  const services = await Promise.all(SERVICE_NAMES.map((name) => serviceStatus(state, name)));
  const cp = await loadControlPlane();
  const controlPlane = cp ? { available: true, ...(await cp.controlPlaneStatus(stateDir)) } : { available: false, running: false };
  return { state, services, controlPlane, node: await nodeStatus(stateDir) };
}

/** The variables that point Flux-Gate and its tests at this stack. */
export async function stackEnv(stateDir: string): Promise<StackEnv> {
  const state = requireState(stateDir);
  const vars: Record<string, string> = {
    REDIS_URL: DRIVERS.redis.url(state),
    DATABASE_URL: DRIVERS.postgres.url(state),
    KAFKA_BROKERS: DRIVERS.kafka.url(state),
    ...kafkaSecureEnv(state),
    FLUXGATE_STACK_STATE: state.stateDir,
    ...postgresTlsEnv(state),
    ...secureRedisVars(state),
  };
  const cp = await loadControlPlane();
  if (!cp) return { vars };
  const cpStatus = await cp.controlPlaneStatus(stateDir);
  if (!cpStatus.running || !cpStatus.kubeconfig) return { vars };
  vars.KUBECONFIG = cpStatus.kubeconfig;
  const node = await nodeStatus(stateDir);
  if (node.running && node.record) {
    // Pods dial the stack's services on the uplink host address (docs/stack.md, "The local node").
    vars.FLUXGATE_NODE_NAME = node.record.nodeName;
    vars.FLUXGATE_NODE_IP = node.record.nodeIp;
    vars.FLUXGATE_NODE_HOST_IP = node.record.hostIp;
    vars.FLUXGATE_NODE_CONTAINERD = node.record.containerdSock;
    vars.FLUXGATE_NODE_KAFKA_BROKERS = `${node.record.hostIp}:${state.ports.kafkaNode}`;
  }
  return { vars, pathPrepend: cpStatus.binDir };
}

/** The stack's TLS material and the Redis TLS listener with its ACL users (docs/stack.md, "Secure connections"). */
function secureRedisVars(state: StackState): Record<string, string> {
  const pki = ensureStackPki(state);
  return {
    FLUXGATE_TLS_CA: pki.caCert,
    FLUXGATE_TLS_UNKNOWN_CA: pki.unknownCaCert,
    FLUXGATE_REDIS_TLS_PORT: String(state.ports.redisTls),
    FLUXGATE_REDIS_TLS_URL: `rediss://127.0.0.1:${state.ports.redisTls}/0`,
    FLUXGATE_REDIS_API_USERNAME: STACK_REDIS_USERS.api.username,
    FLUXGATE_REDIS_API_PASSWORD: STACK_REDIS_USERS.api.password,
    FLUXGATE_REDIS_OPERATOR_USERNAME: STACK_REDIS_USERS.operator.username,
    FLUXGATE_REDIS_OPERATOR_PASSWORD: STACK_REDIS_USERS.operator.password,
  };
}

/**
 * Where the broker's secured listeners are and who may log in (e2e/kafka tests read these):
 * FLUXGATE_KAFKA_SASL_SSL_BROKERS, FLUXGATE_KAFKA_MTLS_BROKERS and
 * FLUXGATE_KAFKA_<API|WORKER|OPERATOR>_USERNAME / _PASSWORD (the CA is FLUXGATE_TLS_CA).
 */
function kafkaSecureEnv(state: StackState): Record<string, string> {
  const vars: Record<string, string> = {
    FLUXGATE_KAFKA_SASL_SSL_BROKERS: `127.0.0.1:${state.ports.kafkaSaslSsl}`,
    FLUXGATE_KAFKA_MTLS_BROKERS: `127.0.0.1:${state.ports.kafkaMtls}`,
  };
  for (const [component, user] of Object.entries(stackKafkaUsers(state))) {
    vars[`FLUXGATE_KAFKA_${component.toUpperCase()}_USERNAME`] = user.username;
    vars[`FLUXGATE_KAFKA_${component.toUpperCase()}_PASSWORD`] = user.password;
  }
  return vars;
}

/** `export NAME='value'` lines for a POSIX shell. */
export function toShellExports(env: StackEnv): string {
  const quote = (v: string) => `'${v.replaceAll("'", `'\\''`)}'`;
  const lines = Object.entries(env.vars).map(([k, v]) => `export ${k}=${quote(v)}`);
  if (env.pathPrepend) lines.push(`export PATH=${quote(env.pathPrepend)}:"$PATH"`);
  return lines.join('\n') + '\n';
}
