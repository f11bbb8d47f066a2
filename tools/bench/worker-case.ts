// Worker bench: a topic pre-filled with N valid orders for one product, then a worker started
// on it; throughput = orders that reached PostgreSQL per second, counted from the first row seen
// (so consumer-group join time is not counted) until all N are there or the time cap is reached.
// The records are v2 records shaped like the API's (one per produce request, RECORD_ORDERS orders).
// Progress is probed in PostgreSQL by primary key (the first order, then the last: one partition is
// persisted in order), and counted with count(*) only when the window opens and closes, so the
// probe's own PostgreSQL CPU does not weigh on the per-order figures.
import type { Kafka } from 'kafkajs';
import type pg from 'pg';
import { encodeOrders, orderKey, type OrderMessage } from '../../core/kafka/order-message.js';
import { newOrderId } from '../../core/redis/keys.js';
import type { RunningProcess } from '../../e2e/support/processes.js';
import { cpuSeconds, stackCpuSeconds, stackPids, treeCpuSeconds } from './cpu.js';

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
  /** Each service's share of that (redis, postgres, kafka), microseconds per order. */
  serviceCpuUsPerOrder?: Record<string, number>;
}

const CHUNK = 2_000;
/** Progress probe interval (a primary-key lookup, ~0.1 ms of PostgreSQL CPU). */
const PROBE_MS = 10;
/**
 * Orders per v2 record: the API writes one record per sale per produce request, and at the bench's
 * 64 connections a produce request carries at most 64 orders (one in flight per connection).
 */
export const RECORD_ORDERS = 64;
/** Accept times advance 1 ms every ORDERS_PER_MS orders (about the accept path's rate). */
const ORDERS_PER_MS = 8;

export interface Prefilled {
  firstOrderId: string;
  lastOrderId: string;
}

export async function prefillTopic(kafka: Kafka, topic: string, productId: string, n: number, nonce: string): Promise<Prefilled> {
  const producer = kafka.producer();
  await producer.connect();
  const ids = { firstOrderId: '', lastOrderId: '' };
  try {
    const t0 = Date.now();
    const sends: Promise<unknown>[] = [];
    for (let start = 0; start < n; start += CHUNK) {
      const messages = [];
      for (let r = start; r < Math.min(n, start + CHUNK); r += RECORD_ORDERS) {
        const orders: OrderMessage[] = [];
        for (let i = r; i < Math.min(n, start + CHUNK, r + RECORD_ORDERS); i++) {
          const acceptedMs = t0 + Math.floor(i / ORDERS_PER_MS);
          // The API's ids (newOrderId: the sale's tag, then its clock), as the worker gets them.
          const orderId = newOrderId(productId, acceptedMs);
          orders.push({ v: 1, orderId, productId, userId: `u-${nonce}-${i}`, idempotencyKey: `k-${nonce}-${i}`, quantity: 1, acceptedAt: new Date(acceptedMs).toISOString(), epoch: 0 });
        }
        ids.firstOrderId ||= orders[0]!.orderId;
        ids.lastOrderId = orders[orders.length - 1]!.orderId;
        messages.push({ key: orderKey(orders[0]!), value: encodeOrders(orders) });
      }
      sends.push(producer.send({ topic, acks: -1, messages }));
      if (sends.length >= 8) await Promise.all(sends.splice(0));
    }
    await Promise.all(sends);
  } finally {
    await producer.disconnect();
  }
  return ids;
}

export async function countOrders(db: pg.Pool, productId: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>('SELECT count(*) AS n FROM orders WHERE product_id = $1', [productId]);
  return Number(rows[0]?.n ?? 0);
}

async function isStored(db: pg.Pool, orderId: string): Promise<boolean> {
  const { rowCount } = await db.query('SELECT 1 FROM orders WHERE id = $1', [orderId]);
  return rowCount === 1;
}

export async function measureWorker(
  name: string,
  start: () => Promise<RunningProcess>,
  db: pg.Pool,
  productId: string,
  n: number,
  prefilled: Prefilled,
  maxSteadySeconds: number,
  after?: (proc: RunningProcess) => Promise<void>,
): Promise<WorkerCaseResult> {
  const t0 = performance.now();
  const proc = await start();
  try {
    const pids = stackPids();
    const cpuNow = () => ({
      own: cpuSeconds(proc.child.pid),
      stack: stackCpuSeconds(pids),
      services: Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, treeCpuSeconds(pid)])),
    });
    let first: { t: number; count: number; cpu: ReturnType<typeof cpuNow> } | undefined;
    let last = { t: t0, count: 0, cpu: cpuNow() };
    const deadline = t0 + 120_000;
    // CPU is read before the count that closes the window, after the one that opens it.
    const snapshot = async (t: number) => {
      const cpu = cpuNow();
      return { t, count: await countOrders(db, productId), cpu };
    };
    const opened = async (t: number) => {
      const count = await countOrders(db, productId);
      return { t, count, cpu: cpuNow() };
    };
    for (;;) {
      const t = performance.now();
      if (!first) {
        if (await isStored(db, prefilled.firstOrderId)) last = first = await opened(t);
      } else if (t - first.t >= maxSteadySeconds * 1000 || (await isStored(db, prefilled.lastOrderId))) {
        last = await snapshot(performance.now());
        if (last.count >= n || t - first.t >= maxSteadySeconds * 1000) break;
      }
      if (t > deadline) throw new Error(`${name}: no progress: ${last.count}/${n} orders after 120 s\n${proc.lines.slice(-20).join('\n')}`);
      if (proc.child.exitCode !== null) throw new Error(`${name} exited with ${proc.child.exitCode}\n${proc.lines.slice(-20).join('\n')}`);
      // The window closes at the first probe after the last order: every 10 ms, since at 100k
      // orders/s the whole window is about a second (a 50 ms probe read 2-3 % low on average).
      await new Promise((r) => setTimeout(r, PROBE_MS));
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
      serviceCpuUsPerOrder: Object.fromEntries(Object.keys(pids).map((k) => [k, perOrder(f.cpu.services[k], last.cpu.services[k]) ?? -1])),
    };
  } finally {
    await proc.stop();
  }
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
