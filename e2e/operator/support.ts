// Helpers for the operator e2e tests: the real kube-apiserver of the local stack (kubectl, RBAC,
// ServiceAccount tokens), the built `flux-gate operator` bound to its own least-privilege
// ClusterRole, and probes of FlashSales, Deployments and Events.
import { randomBytes, randomUUID } from 'node:crypto';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { ensureTopics } from '../../core/kafka/admin.js';
import { migrate } from '../../core/postgres/migrate.js';
import { createRedis, type FluxRedis } from '../../core/redis/client.js';
import { controlPlaneStatus } from '../../tools/stack/controlplane.js';
import { kubeconfigForToken, runTool, tokenFor } from '../../tools/stack/kube.js';
import { startComponent, type RunningProcess } from '../support/processes.js';
import { kafka, order, requireEnv, uniqueName } from '../support/api.js';
import { E2E_NAMESPACE_LABEL } from '../support/test-namespaces.js';
import { waitFor } from '../support/wait.js';

export { uniqueName, requireEnv };

export const CRD_FILE = fileURLToPath(new URL('../../crds/flashsale.yaml', import.meta.url));
export const EXAMPLE_FILE = fileURLToPath(new URL('../../crds/examples/flashsale.yaml', import.meta.url));
export const RBAC_FILE = fileURLToPath(new URL('../../deploy/rbac/operator-clusterrole.yaml', import.meta.url));

let binDir: string | undefined;

export async function kubeTools(): Promise<{ kubeconfig: string; binDir: string }> {
  const kubeconfig = requireEnv('KUBECONFIG');
  if (!binDir) {
    const s = await controlPlaneStatus(dirname(kubeconfig));
    if (!s.running || !s.binDir) throw new Error(`the control plane of ${kubeconfig} is not running: npm run stack:up`);
    binDir = s.binDir;
  }
  return { kubeconfig, binDir };
}

/** kubectl as cluster admin (or with the given kubeconfig); throws with stderr on failure. */
export async function kubectl(args: string[], o: { input?: string; kubeconfig?: string } = {}): Promise<string> {
  const t = await kubeTools();
  return runTool(t.binDir, 'kubectl', args, { kubeconfig: o.kubeconfig ?? t.kubeconfig, input: o.input });
}

/** kubectl that is expected to fail: returns its error text. */
export async function kubectlFails(args: string[], o: { input?: string; kubeconfig?: string } = {}): Promise<string> {
  try {
    const out = await kubectl(args, o);
    throw new Error(`kubectl ${args.join(' ')} succeeded but should have failed:\n${out}`);
  } catch (e) {
    const msg = (e as Error).message;
    if (msg.includes('succeeded but should have failed')) throw e;
    return msg;
  }
}

export async function applyCrd(): Promise<void> {
  await kubectl(['apply', '-f', CRD_FILE]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/flashsales.fluxgate.io']);
}

export async function createNamespace(prefix: string): Promise<string> {
  const ns = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kubectl(['create', 'namespace', ns]);
  await kubectl(['label', 'namespace', ns, `${E2E_NAMESPACE_LABEL}=operator`]);
  return ns;
}

/**
 * The operator's identity as in a cluster: a ServiceAccount bound to the ClusterRole of
 * deploy/rbac/operator-clusterrole.yaml (via a RoleBinding in the watched namespace) and to the
 * leader-election Role. Returns a kubeconfig with the ServiceAccount's token: no admin rights.
 */
export async function operatorKubeconfig(ns: string): Promise<string> {
  await kubectl(['apply', '-n', ns, '-f', RBAC_FILE]);
  await kubectl(['create', 'serviceaccount', 'flux-gate-operator', '-n', ns]);
  await kubectl(['create', 'rolebinding', 'flux-gate-operator', '-n', ns, '--clusterrole=flux-gate-operator', `--serviceaccount=${ns}:flux-gate-operator`]);
  await kubectl(['create', 'rolebinding', 'flux-gate-operator-leader-election', '-n', ns, '--role=flux-gate-operator-leader-election', `--serviceaccount=${ns}:flux-gate-operator`]);
  const token = await tokenFor('flux-gate-operator', ns, { kubeconfig: (await kubeTools()).kubeconfig, expirationSeconds: 7200 });
  return kubeconfigForToken(token, { kubeconfig: (await kubeTools()).kubeconfig, user: `system:serviceaccount:${ns}:flux-gate-operator` });
}

export interface Backends {
  topic: string;
  groupId: string;
  pool: pg.Pool;
  redis: FluxRedis;
  /** Shared env of api, worker and operator for this test file. */
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function backends(prefix: string, partitions = 3): Promise<Backends> {
  await migrate(requireEnv('DATABASE_URL'));
  const topic = uniqueName(`e2e-op-${prefix}`);
  const groupId = `${topic}-workers`;
  await ensureTopics(kafka(), { ordersTopic: topic, partitions });
  const pool = new pg.Pool({ connectionString: requireEnv('DATABASE_URL'), max: 3 });
  pool.on('error', () => undefined);
  const redis = createRedis(requireEnv('REDIS_URL'));
  redis.on('error', () => undefined);
  await redis.connect();
  return {
    topic,
    groupId,
    pool,
    redis,
    env: {
      REDIS_URL: requireEnv('REDIS_URL'),
      DATABASE_URL: requireEnv('DATABASE_URL'),
      KAFKA_BROKERS: requireEnv('KAFKA_BROKERS'),
      ORDERS_TOPIC: topic,
      ORDERS_TOPIC_PARTITIONS: String(partitions),
      KAFKA_GROUP_ID: groupId,
      METRICS_PORT: '0',
      METRICS_HOST: '127.0.0.1',
    },
    async close() {
      redis.disconnect();
      await pool.end();
    },
  };
}

/** `flux-gate operator` for one namespace, with short timings so tests run in seconds. */
export function startOperator(ns: string, kubeconfig: string, b: Backends, extra: Record<string, string> = {}): Promise<RunningProcess> {
  return startComponent(
    'operator',
    {
      ...b.env,
      KUBECONFIG: kubeconfig,
      WATCH_NAMESPACE: ns,
      OPERATOR_NAMESPACE: ns,
      LEASE_DURATION_SECONDS: '4',
      LEASE_RENEW_DEADLINE_SECONDS: '3',
      LEASE_RETRY_PERIOD_SECONDS: '0.5',
      LAG_POLL_SECONDS: '0.5',
      RESYNC_SECONDS: '5',
      AUDIT_CONFIRM_SECONDS: '2',
      ...extra,
    },
    { readyTimeoutMs: 60_000 },
  );
}

export interface FlashSaleDoc {
  metadata: { name: string; namespace: string; finalizers?: string[]; generation?: number; deletionTimestamp?: string };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    phase?: string;
    message?: string;
    stock?: { allocated?: number; postgres?: number; redis?: number; remaining?: number; sold?: number };
    workers?: { replicas?: number; desired?: number; lag?: number; cap?: string; partitions?: number; partition?: number; partitionsWithLag?: number };
    redis?: { runId?: string; epoch?: number };
    recovery?: { count?: number; lastDurationSeconds?: number; reason?: string; startedAt?: string; finishedAt?: string };
    conditions?: Array<{ type: string; status: string; reason: string; message: string; lastTransitionTime: string }>;
  };
}

export function flashSale(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({ apiVersion: 'fluxgate.io/v1alpha1', kind: 'FlashSale', metadata: { name }, spec });
}

export async function getSale(ns: string, name: string): Promise<FlashSaleDoc | undefined> {
  try {
    return JSON.parse(await kubectl(['get', 'flashsale', name, '-n', ns, '-o', 'json'])) as FlashSaleDoc;
  } catch (e) {
    if ((e as Error).message.includes('NotFound')) return undefined;
    throw e;
  }
}

export const condition = (s: FlashSaleDoc | undefined, type: string) => s?.status?.conditions?.find((c) => c.type === type);

export { waitFor };

export async function waitForSale(ns: string, name: string, what: string, ok: (s: FlashSaleDoc) => boolean, timeoutMs = 90_000): Promise<FlashSaleDoc> {
  return waitFor(`FlashSale ${ns}/${name}: ${what}`, async () => {
    const s = await getSale(ns, name);
    return s && ok(s) ? s : undefined;
  }, timeoutMs);
}

/** Events in the order they first happened (names say nothing of time: the operator derives them from the content). */
export async function events(ns: string, kind?: string, name?: string): Promise<Array<{ reason: string; message: string; type: string; count?: number; involvedObject: { kind: string; name: string; uid?: string } }>> {
  type Ev = { reason: string; message: string; type: string; count?: number; firstTimestamp?: string; involvedObject: { kind: string; name: string; uid?: string } };
  const list = JSON.parse(await kubectl(['get', 'events', '-n', ns, '-o', 'json'])) as { items: Ev[] };
  return list.items
    .filter((e) => (!kind || e.involvedObject.kind === kind) && (!name || e.involvedObject.name === name))
    .sort((x, y) => (x.firstTimestamp ?? '').localeCompare(y.firstTimestamp ?? ''));
}

export async function scaleOf(ns: string, deployment: string): Promise<number> {
  const s = JSON.parse(await kubectl(['get', '--raw', `/apis/apps/v1/namespaces/${ns}/deployments/${deployment}/scale`])) as { spec?: { replicas?: number } };
  return s.spec?.replicas ?? 0;
}

/**
 * A worker Deployment object (nothing runs it: the test control plane has no kubelet). It opts in
 * to scaling by the operator as the chart's worker does, unless `optIn` is false.
 */
export async function createDeployment(ns: string, name: string, replicas: number, o: { optIn?: boolean } = {}): Promise<void> {
  const annotations = o.optIn === false ? {} : { 'fluxgate.io/replicas-owner': 'operator' };
  const doc = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, annotations },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'worker', image: 'flux-gate:e2e', args: ['worker'] }] } },
    },
  };
  await kubectl(['apply', '-f', '-'], { input: JSON.stringify(doc) });
}

export function lineMatching(p: RunningProcess, re: RegExp): string | undefined {
  return p.lines.find((l) => re.test(l));
}

/** SIGTERM, and if the process has not exited after `ms`, report its last lines and SIGKILL it. */
export async function stopGracefully(p: RunningProcess | undefined, ms = 30_000): Promise<void> {
  if (!p) return;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = await Promise.race([
    p.stop('SIGTERM').then(() => false),
    new Promise<boolean>((r) => (timer = setTimeout(() => r(true), ms))),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    process.stderr.write(`process did not stop within ${ms} ms; last lines:\n${p.lines.slice(-20).join('\n')}\n`);
    await p.stop('SIGKILL');
    throw new Error(`process did not stop within ${ms} ms after SIGTERM`);
  }
}

/** What every operator test file starts from. */
export interface Testbed {
  /** A fresh namespace the operator watches (`op-<name>-<random>`). */
  ns: string;
  /** The operator's ServiceAccount kubeconfig in `ns` (operatorKubeconfig). */
  kubeconfig: string;
  /** The file's own topic, group, pool and Redis client. */
  b: Backends;
}

/** The set-up each operator test file shares: the CRD, a fresh namespace with the operator's identity, and its own backends. */
export async function testbed(name: string, partitions = 3): Promise<Testbed> {
  await applyCrd();
  const ns = await createNamespace(`op-${name}`);
  const kubeconfig = await operatorKubeconfig(ns);
  return { ns, kubeconfig, b: await backends(name, partitions) };
}

/** Stops a test file's processes, the last started first, then closes its backends. */
export async function stopAll(procs: Array<RunningProcess | undefined>, b: Backends | undefined, signal?: NodeJS.Signals): Promise<void> {
  for (const p of [...procs].reverse()) await p?.stop(signal);
  await b?.close();
}

/** The real API on a free loopback port with `env`; returns the process and its base URL. */
export async function startApi(env: Record<string, string>): Promise<{ api: RunningProcess; apiBase: string }> {
  const api = await startComponent('api', { ...env, PORT: '0', HOST: '127.0.0.1' }, { readyTimeoutMs: 90_000 });
  return { api, apiBase: `http://127.0.0.1:${api.port}` };
}

/** Worker, API and operator of one test file, on the stack's Redis or on `redisEnv` (Sentinel, Cluster). */
export async function startSaleStack(
  t: Testbed,
  redisEnv: Record<string, string> = {},
  apiEnv: Record<string, string> = {},
  operatorEnv: Record<string, string> = {},
): Promise<{ procs: RunningProcess[]; apiBase: string }> {
  const env = { ...t.b.env, ...(Object.keys(redisEnv).length ? { REDIS_URL: '', ...redisEnv } : {}) };
  const procs = [await startComponent('worker', t.b.env, { readyTimeoutMs: 90_000 })];
  const { api, apiBase } = await startApi({ ...env, PRODUCT_LOOKUP_CACHE_MS: '200', ...apiEnv });
  procs.push(api);
  procs.push(await startOperator(t.ns, t.kubeconfig, { ...t.b, env }, operatorEnv));
  return { procs, apiBase };
}

export interface BuyerAnswer {
  sent: number;
  status: number;
  orderId?: string;
  /** The error code of a refusal (`sold_out`, `recovering`, …). */
  code?: string;
}

/**
 * Buyers with distinct users and keys until stopped: each orders every `everyMs` (0 = as fast as
 * answers come), backing off `backoffMs` after a refusal.
 */
export function buyers(apiBase: string, productId: string, o: { buyers?: number; everyMs?: number; backoffMs?: number } = {}) {
  const answers: BuyerAnswer[] = [];
  let running = true;
  let u = 0;
  const loops = Array.from({ length: o.buyers ?? 1 }, async () => {
    while (running) {
      const sent = Date.now();
      const res = await order(apiBase, { productId, userId: `u${u++}`, quantity: 1 }, randomUUID()).catch(() => undefined);
      const body = res?.body as { orderId?: string; status?: string } | undefined;
      if (res) answers.push({ sent, status: res.status, orderId: body?.orderId, code: res.status === 200 ? undefined : body?.status });
      const wait = Math.max((o.everyMs ?? 0) - (Date.now() - sent), res?.status === 200 ? 0 : (o.backoffMs ?? 0));
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  });
  return {
    answers,
    accepted: () => answers.filter((a) => a.status === 200).map((a) => a.orderId!),
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** Waits until PostgreSQL holds every order id (the topic drained), then returns the product's rows. */
export async function storedOrders(b: Backends, productId: string, ids: string[]): Promise<Array<{ id: string; status: string }>> {
  await waitFor('every 200 stored', async () => {
    const r = await b.pool.query<{ n: string }>('SELECT count(*)::text AS n FROM orders WHERE id = ANY($1::uuid[])', [ids]);
    return Number(r.rows[0]!.n) === ids.length || undefined;
  }, 60_000);
  return (await b.pool.query<{ id: string; status: string }>('SELECT id::text, status FROM orders WHERE product_id = $1', [productId])).rows;
}
