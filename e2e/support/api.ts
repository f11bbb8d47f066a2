// Helpers for the API e2e tests: the built API process against the real stack (Redis, PostgreSQL,
// Kafka), a keep-alive HTTP client, and probes of what each order may have changed.
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { ensureTopics } from '../../core/kafka/admin.js';
import { decodeOrderRecord } from '../../core/kafka/order-message.js';
import { migrate } from '../../core/postgres/migrate.js';
import { createRedis, type FluxRedis } from '../../core/redis/client.js';
import { saleKeys } from '../../core/redis/keys.js';
import { startComponent, type RunningProcess } from './processes.js';
import { waitFor } from './wait.js';

export { waitFor };

export function requireEnv(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the e2e tests through the stack (eval "$(npm run -s stack:env)")`);
  return v;
}

export const ADMIN_TOKEN = 'e2e-admin-token-0123456789';

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomUUID().slice(0, 8)}`;
}

export const kafka = () => new Kafka({ clientId: 'e2e-api', brokers: requireEnv('KAFKA_BROKERS').split(','), logLevel: logLevel.NOTHING });

export interface ApiHarness {
  api: RunningProcess;
  base: string;
  /** The API's metrics listener (/metrics, /dependencies): not the public port. */
  metrics: string;
  topic: string;
  redis: FluxRedis;
  pool: pg.Pool;
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Migrates, creates a topic unique to the test file, starts `flux-gate api` on a free port.
 * `beforeStart` runs once the topic exists (e.g. to grant ACLs on it).
 */
export async function startApi(
  prefix: string,
  extraEnv: Record<string, string> = {},
  beforeStart: (topic: string) => Promise<void> = async () => undefined,
): Promise<ApiHarness> {
  await migrate(requireEnv('DATABASE_URL'));
  const topic = uniqueName(`e2e-api-${prefix}`);
  await ensureTopics(kafka(), { ordersTopic: topic, partitions: 3 });
  await beforeStart(topic);
  const env = {
    REDIS_URL: requireEnv('REDIS_URL'),
    DATABASE_URL: requireEnv('DATABASE_URL'),
    KAFKA_BROKERS: requireEnv('KAFKA_BROKERS'),
    ORDERS_TOPIC: topic,
    ORDERS_TOPIC_PARTITIONS: '3',
    PORT: '0',
    HOST: '127.0.0.1',
    METRICS_PORT: '0',
    METRICS_HOST: '127.0.0.1',
    ADMIN_TOKEN,
    ...extraEnv,
  };
  const api = await startComponent('api', env, { readyTimeoutMs: 90_000 });
  const redis = createRedis(requireEnv('REDIS_URL'));
  redis.on('error', () => undefined); // outage tests stop Redis; the client reconnects by itself
  await redis.connect();
  const pool = new pg.Pool({ connectionString: requireEnv('DATABASE_URL'), max: 3 });
  pool.on('error', () => undefined);
  const harness: ApiHarness = {
    api,
    base: `http://127.0.0.1:${api.port}`,
    metrics: `http://127.0.0.1:${api.metricsPort}`,
    topic,
    redis,
    pool,
    env,
    // Stops the harness's current API: a test may have replaced it (an API restart).
    async close() {
      await harness.api.stop('SIGKILL');
      redis.disconnect();
      await pool.end();
    },
  };
  return harness;
}

export interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
  text: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 });

/** One HTTP request; body as given (a string is sent verbatim, anything else as JSON). */
export function http(
  base: string,
  method: string,
  path: string,
  opts: { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Res> {
  const payload = opts.body === undefined ? undefined : typeof opts.body === 'string' || Buffer.isBuffer(opts.body) ? opts.body : JSON.stringify(opts.body);
  const headers: Record<string, string> = {
    ...(payload !== undefined && typeof opts.body !== 'string' && !Buffer.isBuffer(opts.body) ? { 'content-type': 'application/json' } : {}),
    ...opts.headers,
  };
  if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload));
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = text ? JSON.parse(text) : undefined;
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
      });
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** POST /order with a fresh idempotency key, or the given one; `null` sends none. */
export function order(base: string, body: unknown, key: string | null = randomUUID(), headers: Record<string, string> = {}): Promise<Res> {
  return http(base, 'POST', '/order', { body, headers: { ...(key === null ? {} : { 'x-idempotency-key': key }), ...headers } });
}

export async function initSale(
  base: string,
  sale: {
    productId: string;
    quantity: number;
    perUserLimit?: number;
    rateLimitPerSecond?: number;
    startsAt?: string;
    endsAt?: string;
    admission?: { mode: string; ratePerSecond?: number; tokenTtlSeconds?: number; maxQueue?: number };
  },
): Promise<Res> {
  const res = await http(base, 'POST', '/init', { body: sale, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (res.status !== 200) throw new Error(`/init answered ${res.status}: ${res.text}`);
  return res;
}

export async function redisStock(redis: FluxRedis, productId: string): Promise<number | null> {
  const v = await redis.get(saleKeys(productId).stock);
  return v === null ? null : Number(v);
}

/**
 * Sum of the topic's end offsets: grows by exactly one per produced order. Retried, because right
 * after a broker restart the metadata may still name a partition leader that is not ready.
 */
export async function topicEndOffset(topic: string): Promise<number> {
  return waitFor(`end offsets of ${topic}`, async () => {
    const admin = kafka().admin();
    await admin.connect();
    try {
      const offsets = await admin.fetchTopicOffsets(topic);
      return offsets.reduce((sum, p) => sum + Number(p.high), 0);
    } finally {
      await admin.disconnect();
    }
  });
}

/**
 * Orders in the topic (a v2 record carries many, a v1 record one), read from the beginning up to
 * the end offsets of the moment: what was produced, whatever the record format.
 */
export async function topicOrders(topic: string): Promise<number> {
  const k = kafka();
  const admin = k.admin();
  await admin.connect();
  const ends = await waitFor(`end offsets of ${topic}`, () => admin.fetchTopicOffsets(topic)).finally(() => admin.disconnect());
  const pending = new Map(ends.filter((p) => Number(p.high) > Number(p.low)).map((p) => [p.partition, Number(p.high)]));
  if (pending.size === 0) return 0;
  const consumer = k.consumer({ groupId: `e2e-count-${randomUUID()}` });
  let orders = 0;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${topic}: partitions ${[...pending.keys()].join(', ')} not read to their end within 60 s`)), 60_000);
      consumer
        .run({
          eachBatch: async ({ batch }) => {
            const end = pending.get(batch.partition);
            for (const m of batch.messages) if (end !== undefined && Number(m.offset) < end) orders += decodeOrderRecord(m.value).orders.length;
            if (end !== undefined && Number(batch.lastOffset()) >= end - 1) pending.delete(batch.partition);
            if (pending.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return orders;
}

export function countBy<T>(items: T[], key: (t: T) => string | number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of items) out[key(i)] = (out[key(i)] ?? 0) + 1;
  return out;
}


/** Starts `flux-gate worker` consuming the harness's topic (its own consumer group, `${topic}-group`). */
export function startWorkerFor(h: ApiHarness, extraEnv: Record<string, string> = {}): Promise<RunningProcess> {
  return startComponent(
    'worker',
    {
      DATABASE_URL: requireEnv('DATABASE_URL'),
      KAFKA_BROKERS: requireEnv('KAFKA_BROKERS'),
      ORDERS_TOPIC: h.topic,
      ORDERS_TOPIC_PARTITIONS: '3',
      KAFKA_GROUP_ID: `${h.topic}-group`,
      METRICS_PORT: '0',
      METRICS_HOST: '127.0.0.1',
      ...extraEnv,
    },
    { readyTimeoutMs: 90_000 },
  );
}

export interface StoredOrder {
  id: string;
  idempotencyKey: string;
  status: 'confirmed' | 'rejected';
  rejectReason: string | null;
}

export async function storedOrders(pool: pg.Pool, productId: string): Promise<StoredOrder[]> {
  const r = await pool.query<StoredOrder>(
    `SELECT id::text, idempotency_key AS "idempotencyKey", status, reject_reason AS "rejectReason" FROM orders WHERE product_id = $1`,
    [productId],
  );
  return r.rows;
}

/**
 * Waits until the sale is quiet: every order answered 200 is stored and Redis's stock equals
 * PostgreSQL's (a unit missing on either side never settles: the wait fails, naming both figures).
 * Returns what the stores hold, for the test's own invariants.
 */
export async function settledSale(h: ApiHarness, productId: string, answered200: string[]) {
  let last = '';
  try {
    return await waitFor(`sale ${productId} to settle`, async () => {
      const orders = await storedOrders(h.pool, productId);
      const ids = new Set(orders.map((o) => o.id));
      const pg = (await h.pool.query<{ stock: number }>('SELECT stock FROM products WHERE id = $1', [productId])).rows[0]?.stock;
      const redis = await redisStock(h.redis, productId);
      last = `stored ${answered200.filter((id) => ids.has(id)).length}/${answered200.length} accepted; Redis stock ${redis}, PostgreSQL stock ${pg}`;
      return answered200.every((id) => ids.has(id)) && redis === pg ? { orders, redisStock: redis, pgStock: pg } : undefined;
    }, 60_000);
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${last}`);
  }
}
