// Helpers for the worker e2e tests: real Kafka, real PostgreSQL, the built CLI.
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import pg from 'pg';
import { ensureTopics } from '../../core/kafka/admin.js';
import { readConsumerLag } from '../../core/kafka/lag.js';
import { encodeOrder, orderKey, type OrderMessage } from '../../core/kafka/order-message.js';
import { migrate } from '../../core/postgres/migrate.js';
import { startComponent, type RunningProcess } from '../support/processes.js';
import { waitFor } from '../support/wait.js';

export { waitFor };

export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the e2e tests through the stack (eval "$(npm run -s stack:env)")`);
  return v;
}

export const databaseUrl = () => requireEnv('DATABASE_URL');
export const brokers = () => requireEnv('KAFKA_BROKERS').split(',');
export const kafka = () => new Kafka({ clientId: 'e2e-worker', brokers: brokers(), logLevel: logLevel.NOTHING });

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
}

export interface TestSetup {
  pool: pg.Pool;
  topic: string;
  groupId: string;
  workerEnv: Record<string, string>;
}

export async function setUp(prefix: string, partitions = 3): Promise<TestSetup> {
  await migrate(databaseUrl());
  const topic = uniqueName(`e2e-${prefix}`);
  const groupId = `${topic}-group`;
  await ensureTopics(kafka(), { ordersTopic: topic, partitions });
  const pool = new pg.Pool({ connectionString: databaseUrl(), max: 3 });
  pool.on('error', () => undefined); // idle connections die when a test stops PostgreSQL
  return {
    pool,
    topic,
    groupId,
    workerEnv: {
      DATABASE_URL: databaseUrl(),
      KAFKA_BROKERS: brokers().join(','),
      ORDERS_TOPIC: topic,
      ORDERS_TOPIC_PARTITIONS: String(partitions),
      KAFKA_GROUP_ID: groupId,
      METRICS_PORT: '0',
      METRICS_HOST: '127.0.0.1',
    },
  };
}

export function startWorker(env: Record<string, string>): Promise<RunningProcess> {
  return startComponent('worker', env, { readyTimeoutMs: 90_000 });
}

export async function seedProduct(pool: pg.Pool, id: string, stock: number): Promise<void> {
  await pool.query('INSERT INTO products (id, stock, initial_stock) VALUES ($1, $2, $2)', [id, stock]);
}

let seq = 0;
export function makeOrder(productId: string, p: Partial<OrderMessage> = {}): OrderMessage {
  seq++;
  return {
    v: 1,
    orderId: randomUUID(),
    productId,
    userId: `user-${seq}`,
    idempotencyKey: `key-${seq}-${randomUUID()}`,
    quantity: 1,
    acceptedAt: new Date().toISOString(),
    epoch: 1,
    ...p,
  };
}

/** Produces raw messages (acks=all) in chunks; key = productId, as the API does. */
export async function produceRaw(
  topic: string,
  messages: Array<{ key: string; value: Buffer | string }>,
  chunk = 1000,
): Promise<void> {
  const producer = kafka().producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    for (let i = 0; i < messages.length; i += chunk)
      await producer.send({ topic, acks: -1, messages: messages.slice(i, i + chunk) });
  } finally {
    await producer.disconnect();
  }
}

export function produceOrders(topic: string, orders: OrderMessage[], chunk?: number): Promise<void> {
  return produceRaw(topic, orders.map((o) => ({ key: orderKey(o), value: encodeOrder(o) })), chunk);
}


/** Waits until the group has committed everything on the topic (lag 0). */
export async function waitForZeroLag(groupId: string, topic: string, timeoutMs = 60_000): Promise<void> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    await waitFor(`lag 0 for ${groupId}`, async () => ((await readConsumerLag(admin, groupId, topic)).total === 0 ? true : undefined), timeoutMs);
  } finally {
    await admin.disconnect();
  }
}

export async function countOrders(pool: pg.Pool, productIds: string[]): Promise<number> {
  const r = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM orders WHERE product_id = ANY($1)', [productIds]);
  return r.rows[0]!.n;
}

export async function waitForOrders(pool: pg.Pool, productIds: string[], expected: number, timeoutMs = 90_000): Promise<void> {
  let seen = -1;
  await waitFor(
    `${expected} orders in PostgreSQL (last count ${seen})`,
    async () => {
      seen = await countOrders(pool, productIds);
      if (seen > expected) throw new Error(`more orders than produced: ${seen} > ${expected}`);
      return seen === expected ? true : undefined;
    },
    timeoutMs,
  );
}

export interface ProductSummary {
  stock: number;
  confirmed: number;
  confirmedQuantity: number;
  rejected: Record<string, number>;
  rows: number;
  distinctIds: number;
}

export async function summarize(pool: pg.Pool, productId: string): Promise<ProductSummary> {
  const p = await pool.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [productId]);
  const o = await pool.query<{ status: string; reason: string | null; n: number; q: number }>(
    `SELECT status, reject_reason AS reason, count(*)::int AS n, sum(quantity)::int AS q
       FROM orders WHERE product_id = $1 GROUP BY 1, 2`,
    [productId],
  );
  const d = await pool.query<{ rows: number; ids: number }>(
    'SELECT count(*)::int AS rows, count(DISTINCT id)::int AS ids FROM orders WHERE product_id = $1',
    [productId],
  );
  const rejected: Record<string, number> = {};
  let confirmed = 0;
  let confirmedQuantity = 0;
  for (const r of o.rows) {
    if (r.status === 'confirmed') {
      confirmed = r.n;
      confirmedQuantity = r.q;
    } else rejected[r.reason ?? '?'] = r.n;
  }
  return { stock: p.rows[0]?.stock ?? NaN, confirmed, confirmedQuantity, rejected, rows: d.rows[0]!.rows, distinctIds: d.rows[0]!.ids };
}

/** Reads `count` messages of a topic from the beginning with a throwaway group. */
export async function readTopic(topic: string, count: number, timeoutMs = 60_000): Promise<KafkaMessage[]> {
  const consumer = kafka().consumer({ groupId: uniqueName('e2e-reader') });
  const got: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void got.push(message) });
    await waitFor(`${count} messages on ${topic}`, async () => (got.length >= count ? true : undefined), timeoutMs);
    return got;
  } finally {
    await consumer.disconnect();
  }
}
