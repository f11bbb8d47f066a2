// The naive order API the benchmark compares ours with: what a first version usually looks like.
// Same services, same answers for the accept path, but every step is its own round trip:
//   INCR + EXPIRE (rate limit), GET (idempotency), EVAL of the script TEXT (stock),
//   one awaited Kafka send per request (acks=all), SET (idempotency record).
// Its stock key is its own (naive:{<productId>}:stock), seeded by the bench harness.
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { encodeOrder, orderKey } from '../../core/kafka/order-message.js';

const REDIS_URL = required('REDIS_URL');
const KAFKA_BROKERS = required('KAFKA_BROKERS').split(',');
const TOPIC = required('NAIVE_TOPIC');
const RATE_LIMIT_PER_SECOND = Number(process.env.NAIVE_RATE_LIMIT_PER_SECOND ?? 1_000_000_000);

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`naive-api: environment variable ${name} is required`);
  return v;
}

const DECREMENT = `
local stock = tonumber(redis.call('GET', KEYS[1]))
if stock == nil then return -2 end
local q = tonumber(ARGV[1])
if stock < q then return -1 end
return redis.call('DECRBY', KEYS[1], q)`;

const redis = new Redis(REDIS_URL);
const producer = new Kafka({ clientId: 'naive-api', brokers: KAFKA_BROKERS, logLevel: logLevel.WARN }).producer();
await producer.connect();

const app = Fastify({ logger: false });

interface OrderBody {
  productId: string;
  userId: string;
  quantity?: number;
}

app.post<{ Body: OrderBody }>('/order', async (req, reply) => {
  const key = req.headers['x-idempotency-key'];
  if (typeof key !== 'string' || key.length === 0) return reply.code(400).send({ error: 'x-idempotency-key is required' });
  const { productId, userId } = req.body;
  const quantity = req.body.quantity ?? 1;

  const rlKey = `naive:{${productId}}:rl:${Math.floor(Date.now() / 1000)}`;
  const count = await redis.incr(rlKey);
  await redis.expire(rlKey, 2);
  if (count > RATE_LIMIT_PER_SECOND) return reply.code(429).header('retry-after', '1').send({ status: 'rate_limited' });

  const idemKey = `naive:{${productId}}:idem:${key}`;
  const previous = await redis.get(idemKey);
  if (previous) return reply.header('idempotent-replayed', 'true').send(JSON.parse(previous));

  const remaining = (await redis.eval(DECREMENT, 1, `naive:{${productId}}:stock`, quantity)) as number;
  if (remaining === -2) return reply.code(404).send({ status: 'unknown_product' });
  if (remaining < 0) return reply.code(409).send({ status: 'sold_out' });

  const orderId = randomUUID();
  const message = { v: 1 as const, orderId, productId, userId, idempotencyKey: key, quantity, acceptedAt: new Date().toISOString(), epoch: 0 };
  await producer.send({ topic: TOPIC, acks: -1, messages: [{ key: orderKey(message), value: encodeOrder(message) }] });

  const answer = { status: 'success', orderId, productId, remaining };
  await redis.set(idemKey, JSON.stringify(answer), 'EX', 3600);
  return answer;
});

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
console.log(JSON.stringify({ msg: 'ready', component: 'naive-api', port: Number(new URL(address).port) }));
process.once('SIGTERM', () => {
  void app.close().then(async () => {
    await producer.disconnect();
    redis.disconnect();
    process.exit(0);
  });
});
