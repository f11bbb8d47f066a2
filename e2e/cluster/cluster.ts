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
