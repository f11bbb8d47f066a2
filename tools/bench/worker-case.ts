// Worker bench: a topic pre-filled with N valid orders for one product, then a worker started
// on it; throughput = orders that reached PostgreSQL per second, counted from the first row seen
// (so consumer-group join time is not counted) until all N are there or the time cap is reached.
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { encodeOrder, orderKey, type OrderMessage } from '../../core/kafka/order-message.js';
import type { RunningProcess } from '../../e2e/support/processes.js';
import { cpuSeconds, stackCpuSeconds, stackPids } from './cpu.js';

export interface WorkerCaseResult {
  name: string;
  ordersPerSecond: number;
  persisted: number;
  of: number;
  /** Seconds from the first persisted row to the last sample. */
  steadySeconds: number;
  /** Seconds from process start to the first persisted row (group join, first fetch). */
  startupSeconds: number;
  finished: boolean;
  /** Worker process CPU per persisted order over the measured window, microseconds. */
  cpuUsPerOrder?: number;
  /** Same, plus Redis, Kafka and PostgreSQL CPU. */
  systemCpuUsPerOrder?: number;
}

const CHUNK = 2_000;

export async function prefillTopic(kafka: Kafka, topic: string, productId: string, n: number, nonce: string): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  try {
    const acceptedAt = new Date().toISOString();
    const sends: Promise<unknown>[] = [];
    for (let start = 0; start < n; start += CHUNK) {
      const messages = [];
      for (let i = start; i < Math.min(n, start + CHUNK); i++) {
        const m: OrderMessage = { v: 1, orderId: randomUUID(), productId, userId: `u-${nonce}-${i}`, idempotencyKey: `k-${nonce}-${i}`, quantity: 1, acceptedAt, epoch: 0 };
        messages.push({ key: orderKey(m), value: encodeOrder(m) });
      }
      sends.push(producer.send({ topic, acks: -1, messages }));
      if (sends.length >= 8) await Promise.all(sends.splice(0));
    }
    await Promise.all(sends);
  } finally {
    await producer.disconnect();
  }
}

export async function countOrders(db: pg.Pool, productId: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM orders WHERE product_id = $1', [productId]);
  return Number(rows[0]?.n ?? 0);
}

export async function measureWorker(
  name: string,
  start: () => Promise<RunningProcess>,
  db: pg.Pool,
  productId: string,
  n: number,
  maxSteadySeconds: number,
  after?: (proc: RunningProcess) => Promise<void>,
): Promise<WorkerCaseResult> {
  const t0 = performance.now();
  const proc = await start();
  try {
    const pids = stackPids();
    const cpuNow = () => ({ own: cpuSeconds(proc.child.pid), stack: stackCpuSeconds(pids) });
    let first: { t: number; count: number; cpu: ReturnType<typeof cpuNow> } | undefined;
    let last = { t: t0, count: 0, cpu: cpuNow() };
    const deadline = t0 + 120_000;
    for (;;) {
      const count = await countOrders(db, productId);
      const t = performance.now();
      last = { t, count, cpu: cpuNow() };
      if (count > 0 && !first) first = last;
      if (count >= n) break;
      if (first && t - first.t >= maxSteadySeconds * 1000) break;
      if (t > deadline) throw new Error(`${name}: no progress: ${count}/${n} orders after 120 s\n${proc.lines.slice(-20).join('\n')}`);
      if (proc.child.exitCode !== null) throw new Error(`${name} exited with ${proc.child.exitCode}\n${proc.lines.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await after?.(proc);
    const f = first ?? last;
    const steadySeconds = (last.t - f.t) / 1000;
    const orders = last.count - f.count;
    const perOrder = (a?: number, b?: number) => (a !== undefined && b !== undefined && orders > 0 ? Math.round(((b - a) * 1e6) / orders) : undefined);
    const own = perOrder(f.cpu.own, last.cpu.own);
    const stack = perOrder(f.cpu.stack, last.cpu.stack);
    return {
      name,
      ordersPerSecond: steadySeconds > 0 ? Math.round(orders / steadySeconds) : 0,
      persisted: last.count,
      of: n,
      steadySeconds: round(steadySeconds, 2),
      startupSeconds: round((f.t - t0) / 1000, 2),
      finished: last.count >= n,
      cpuUsPerOrder: own,
      systemCpuUsPerOrder: own !== undefined && stack !== undefined ? own + stack : undefined,
    };
  } finally {
    await proc.stop();
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
