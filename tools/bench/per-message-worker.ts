// The baseline the batched worker is compared with: one PostgreSQL transaction per order, the
// orders of each Kafka message in turn (kafkajs eachMessage; BEGIN, INSERT order, UPDATE stock,
// COMMIT), offsets auto-committed. It reads v1 and v2 records (decodeOrderRecord).
import pg from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { decodeOrderRecord, type OrderMessage } from '../../core/kafka/order-message.js';

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`per-message-worker: environment variable ${name} is required`);
  return v;
}

const db = new pg.Client({ connectionString: required('DATABASE_URL') });
await db.connect();
const kafka = new Kafka({ clientId: 'per-message-worker', brokers: required('KAFKA_BROKERS').split(','), logLevel: logLevel.WARN });
const consumer = kafka.consumer({ groupId: required('KAFKA_GROUP_ID') });
await consumer.connect();
await consumer.subscribe({ topic: required('ORDERS_TOPIC'), fromBeginning: true });
consumer.on(consumer.events.GROUP_JOIN, () => console.log(JSON.stringify({ msg: 'ready', component: 'per-message-worker' })));

await consumer.run({
  eachMessage: async ({ message }) => {
    for (const o of decodeOrderRecord(message.value).orders) await persistOne(o);
  },
});

async function persistOne(o: OrderMessage): Promise<void> {
  await db.query('BEGIN');
  try {
    const inserted = await db.query(
      `INSERT INTO orders (id, product_id, user_id, idempotency_key, quantity, status, epoch, accepted_at)
       VALUES ($1, $2, $3, $4, $5, 'confirmed', $6, $7) ON CONFLICT DO NOTHING`,
      [o.orderId, o.productId, o.userId, o.idempotencyKey, o.quantity, o.epoch, o.acceptedAt],
    );
    if (inserted.rowCount === 1) await db.query('UPDATE products SET stock = stock - $2 WHERE id = $1', [o.productId, o.quantity]);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK');
    throw err;
  }
}

process.once('SIGTERM', () => {
  void consumer.disconnect().then(async () => {
    await db.end();
    process.exit(0);
  });
});
