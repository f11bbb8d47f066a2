// Helpers of the cluster suite: the chart's values that point real pods at the stack's services
// (through the node uplink), kubectl/helm as JSON, polling, and orders through the API Service.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { inject } from 'vitest';
import { stringify } from 'yaml';
import { runTool } from '../../tools/stack/kube.js';
import type { ProvidedCluster } from './global-setup.js';

export const CHART = fileURLToPath(new URL('../../helm/flux-gate', import.meta.url));

/** Values for an install on the local node: the local image (never pulled) and the stack's services. */
export function nodeValues(c: ProvidedCluster, ns: string, extra: Record<string, unknown> = {}): string {
  const values = {
    image: { repository: c.image.repository, tag: c.image.tag, pullPolicy: 'Never' },
    redis: { mode: 'single', host: c.hostIp, port: c.ports.redis },
    // One topic and group per namespace: the stack's Kafka is shared with the other suites.
    kafka: { brokers: [`${c.hostIp}:${c.ports.kafkaNode}`], ordersTopic: `orders-${ns}`, groupId: `worker-${ns}`, ordersTopicPartitions: 3 },
    postgres: { host: c.hostIp, port: c.ports.postgres, user: 'fluxgate', database: 'fluxgate', existingSecret: 'flux-gate-postgres' },
    api: { service: { type: 'NodePort' }, autoscaling: { enabled: false }, replicaCount: 2 },
    ...extra,
  };
  const file = join(tmpdir(), `fg-values-${ns}.yaml`);
  writeFileSync(file, stringify(values));
  return file;
}

/** kubectl of the stack's control plane (the version the apiserver runs), admin kubeconfig. */
export async function kubectl(args: string[], input?: string): Promise<string> {
  return runTool(inject('cluster').binDir, 'kubectl', args, { input });
}

export async function kubectlJson<T = any>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

export async function helm(args: string[]): Promise<string> {
  return runTool(inject('cluster').binDir, 'helm', args);
}

/** Polls until `check` returns a value (not undefined); the error carries the last observation. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>, describe?: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const extra = describe ? await describe().catch((e: Error) => e.message) : '';
  throw new Error(`${what}: not reached after ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}\n${extra}`);
}

/** Pods of the namespace, one line each, for failure messages. */
export async function podsSummary(ns: string): Promise<string> {
  return kubectl(['get', 'pods', '-n', ns, '-o', 'wide']).catch((e: Error) => e.message);
}

/** A restricted-PSS namespace with the PostgreSQL password Secret the chart expects. */
export async function createNamespace(ns: string): Promise<void> {
  await kubectl(['create', 'namespace', ns]);
  await kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
  await kubectl(['create', 'secret', 'generic', 'flux-gate-postgres', '-n', ns, '--from-literal=password=fluxgate']);
}

export async function nodePortOf(ns: string, service: string): Promise<number> {
  const svc = await kubectlJson(['get', 'service', service, '-n', ns]);
  const port = svc.spec.ports?.[0]?.nodePort as number | undefined;
  if (!port) throw new Error(`service ${ns}/${service} has no nodePort`);
  return port;
}

export interface OrderTally {
  accepted: number;
  statuses: Record<number, number>;
}

/** `count` orders from distinct users, `concurrency` at a time, through the API Service's NodePort. */
export async function sendOrders(baseUrl: string, productId: string, count: number, concurrency: number): Promise<OrderTally> {
  const tally: OrderTally = { accepted: 0, statuses: {} };
  let next = 0;
  const one = async (i: number) => {
    const res = await fetch(`${baseUrl}/order`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-idempotency-key': randomUUID() },
      body: JSON.stringify({ productId, userId: `cluster-user-${i}` }),
      signal: AbortSignal.timeout(30_000),
    });
    await res.arrayBuffer();
    tally.statuses[res.status] = (tally.statuses[res.status] ?? 0) + 1;
    if (res.status === 200) tally.accepted++;
  };
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await one(next++);
  }));
  return tally;
}

export async function confirmedInPostgres(databaseUrl: string, productId: string): Promise<{ confirmed: number; rejected: number; stock: number | undefined }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const orders = await client.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM orders WHERE product_id = $1 GROUP BY status', [productId]);
    const product = await client.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [productId]);
    const n = (s: string) => Number(orders.rows.find((r) => r.status === s)?.n ?? 0);
    return { confirmed: n('confirmed'), rejected: n('rejected'), stock: product.rows[0]?.stock };
  } finally {
    await client.end();
  }
}

/** `helm install --wait` (hooks included) of the chart; the error carries the pods and events. */
export async function installRelease(ns: string, release: string, valuesFile: string): Promise<number> {
  const t0 = Date.now();
  // Helm installs crds/ only when the CRD is absent and never upgrades it: a CRD left by an older
  // checkout would prune the fields this chart's operator writes (status.recovery.barrier, seen:
  // a recovery that never ends). The README's upgrade step, applied before every install.
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', `${CHART}/crds/flashsale.yaml`]);
  await helm(['install', release, CHART, '-n', ns, '--values', valuesFile, '--wait', '--timeout', '10m'])
    .catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await podsSummary(ns)}\n${await kubectl(['get', 'events', '-n', ns, '--sort-by=.lastTimestamp']).catch(() => '')}`);
    });
  return Math.round((Date.now() - t0) / 1000);
}

/** A FlashSale manifest selling `stock` units now, its workers scaled by the operator as `workers` says. */
export function flashSaleManifest(ns: string, name: string, productId: string, stock: number, workers: Record<string, unknown>): string {
  const now = Date.now();
  return JSON.stringify({
    apiVersion: 'fluxgate.io/v1alpha1',
    kind: 'FlashSale',
    metadata: { name, namespace: ns },
    spec: { productId, stock, startsAt: new Date(now - 60_000).toISOString(), endsAt: new Date(now + 3_600_000).toISOString(), workers },
  });
}

/** One answer as the client saw it: the HTTP status (0 = no answer: connection error or timeout). */
export interface Answer {
  sentAt: number;
  at: number;
  productId: string;
  status: number;
  orderId?: string;
  retryAfter?: string | null;
  error?: string;
}

/**
 * Orders from distinct users, `concurrency` in flight, spread round-robin over `productIds`, until
 * stopped (or `limit` sent). Every answer is kept, failures included: the tests judge them.
 */
export function orderStream(baseUrl: string, productIds: string[], concurrency: number, o: { limit?: number; pauseMs?: number } = {}) {
  const answers: Answer[] = [];
  let running = true;
  let next = 0;
  const tag = randomUUID().slice(0, 8);
  const one = async (i: number) => {
    const productId = productIds[i % productIds.length]!;
    const sentAt = Date.now();
    try {
      const res = await fetch(`${baseUrl}/order`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-idempotency-key': randomUUID() },
        body: JSON.stringify({ productId, userId: `s-${tag}-${i}` }),
        signal: AbortSignal.timeout(15_000),
      });
      const body = (await res.json().catch(() => ({}))) as { orderId?: string };
      answers.push({ sentAt, at: Date.now(), productId, status: res.status, orderId: body.orderId, retryAfter: res.headers.get('retry-after') });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      answers.push({ sentAt, at: Date.now(), productId, status: 0, error: `${e.name}: ${e.cause?.code ?? e.cause?.message ?? e.message}` });
    }
  };
  const loops = Promise.all(Array.from({ length: concurrency }, async () => {
    while (running && (o.limit === undefined || next < o.limit)) {
      await one(next++);
      if (o.pauseMs) await new Promise((r) => setTimeout(r, o.pauseMs));
    }
  }));
  return { answers, done: loops, stop: async () => { running = false; await loops; return answers; } };
}

/** Counts of answers by status (0 = connection error or timeout). */
export function byStatus(answers: Answer[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const a of answers) out[a.status] = (out[a.status] ?? 0) + 1;
  return out;
}

export interface SaleInStores {
  /** Answered 200 (orderIds) but not in PostgreSQL. */
  lost: number;
  /** Answered 200 but stored as rejected. */
  acceptedThenRejected: number;
  confirmed: number;
  rejected: number;
  /** Rows of the product in PostgreSQL that no client was answered 200 for. */
  unanswered: number;
  initialStock: number;
  pgStock: number;
  /** initial − confirmed quantity − PostgreSQL stock: ≠ 0 when an order was applied twice (or not at all). */
  stockDrift: number;
}

/** What PostgreSQL holds for a product, against the orderIds clients were answered 200 for. */
export async function saleInStores(databaseUrl: string, productId: string, accepted: string[]): Promise<SaleInStores> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const rows = (await client.query<{ id: string; status: string; quantity: number }>('SELECT id::text, status, quantity FROM orders WHERE product_id = $1', [productId])).rows;
    const product = (await client.query<{ stock: number; initial_stock: number }>('SELECT stock, initial_stock FROM products WHERE id = $1', [productId])).rows[0];
    const byId = new Map(rows.map((r) => [r.id, r]));
    const acceptedSet = new Set(accepted);
    const confirmedQty = rows.filter((r) => r.status === 'confirmed').reduce((s, r) => s + r.quantity, 0);
    return {
      lost: accepted.filter((id) => !byId.has(id)).length,
      acceptedThenRejected: accepted.filter((id) => byId.get(id)?.status === 'rejected').length,
      confirmed: rows.filter((r) => r.status === 'confirmed').length,
      rejected: rows.filter((r) => r.status === 'rejected').length,
      unanswered: rows.filter((r) => !acceptedSet.has(r.id)).length,
      initialStock: product?.initial_stock ?? -1,
      pgStock: product?.stock ?? -1,
      stockDrift: (product?.initial_stock ?? 0) - confirmedQty - (product?.stock ?? 0),
    };
  } finally {
    await client.end();
  }
}
