// What the worker does with one Kafka batch (one partition): decode, dead-letter the poison,
// persist the rest in one transaction, and only then commit the offsets. Nothing is committed past
// a message that is not durable somewhere (PostgreSQL or the DLQ).
import type { EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import type { Pool } from 'pg';
import { sendToDlq, type PoisonMessage } from '../kafka/dlq.js';
import { decodeOrder, InvalidOrderMessage, type OrderMessage } from '../kafka/order-message.js';
import type { Logger } from '../logging.js';
import type { WorkerMetrics } from './metrics.js';
import { persistBatch } from './persist-batch.js';
import { ABORTED, retryUntilDone, type Backoff } from './retry.js';

const HEARTBEAT_EVERY_MS = 1_000;

export interface BatchContext {
  pool: Pool;
  producer: Producer;
  dlqTopic: string;
  backoff: Backoff;
  metrics: WorkerMetrics;
  logger: Logger;
}

export function splitBatch(topic: string, partition: number, messages: KafkaMessage[]) {
  const orders: OrderMessage[] = [];
  const poison: PoisonMessage[] = [];
  for (const message of messages) {
    try {
      orders.push(decodeOrder(message.value));
    } catch (err) {
      if (!(err instanceof InvalidOrderMessage)) throw err;
      poison.push({ topic, partition, message, reason: err.message });
    }
  }
  return { orders, poison };
}

export async function handleBatch(ctx: BatchContext, payload: EachBatchPayload): Promise<void> {
  const { batch, heartbeat, isRunning, isStale, resolveOffset, commitOffsetsIfNecessary } = payload;
  const { topic, partition, messages } = batch;
  if (messages.length === 0 || !isRunning() || isStale()) return;
  const started = process.hrtime.bigint();
  const log = ctx.logger.child({ topic, partition, firstOffset: batch.firstOffset(), lastOffset: batch.lastOffset() });
  const { orders, poison } = splitBatch(topic, partition, messages);
  const retry = (stage: 'postgres' | 'dlq') => ({
    backoff: ctx.backoff,
    heartbeat,
    shouldStop: () => !isRunning() || isStale(),
    onRetry: (err: Error, attempt: number, delayMs: number) => {
      ctx.metrics.retries.inc({ stage });
      log.warn({ stage, attempt, delayMs, err: err.message, orders: orders.length }, 'batch failed, retrying');
    },
  });

  const decodedAt = process.hrtime.bigint();
  // A slow transaction (PostgreSQL under load, a lock held by someone) must not cost us the group
  // membership: heartbeat in the background while it runs (errors surface at the next heartbeat).
  const keepAlive = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_EVERY_MS);
  const persisted = await retryUntilDone(() => persistBatch(ctx.pool, orders), retry('postgres')).finally(() =>
    clearInterval(keepAlive),
  );
  const persistedAt = process.hrtime.bigint();
  if (persisted === ABORTED) return log.info('shutting down or rebalancing: batch left uncommitted, it will be redelivered');
  if (poison.length > 0) {
    const sent = await retryUntilDone(() => sendToDlq(ctx.producer, ctx.dlqTopic, poison), retry('dlq'));
    if (sent === ABORTED) return log.info('shutting down or rebalancing: batch left uncommitted, it will be redelivered');
    for (const p of poison)
      log.warn({ offset: p.message.offset, reason: p.reason, dlqTopic: ctx.dlqTopic }, 'poison message sent to the DLQ');
    ctx.metrics.dlq.inc(poison.length);
  }

  let confirmed = 0;
  const rejected: Record<string, number> = {};
  for (const d of persisted.decisions) {
    if (d.status === 'confirmed') confirmed++;
    else {
      rejected[d.reason] = (rejected[d.reason] ?? 0) + 1;
      log.warn(
        {
          orderId: d.order.orderId,
          productId: d.order.productId,
          quantity: d.order.quantity,
          reason: d.reason,
          ...(d.reason === 'duplicate' ? { duplicateOf: d.duplicateOf } : {}),
        },
        'order rejected',
      );
    }
  }
  if (confirmed) ctx.metrics.ordersPersisted.inc({ status: 'confirmed', reason: '' }, confirmed);
  for (const [reason, n] of Object.entries(rejected)) ctx.metrics.ordersPersisted.inc({ status: 'rejected', reason }, n);
  if (persisted.redelivered) ctx.metrics.redelivered.inc(persisted.redelivered);

  // Durable everywhere: now, and only now, move the group's offset past the batch. (If this commit
  // fails because of a rebalance, the next owner gets the batch again and finds it stored: no-op.)
  const last = messages[messages.length - 1]!.offset;
  resolveOffset(last);
  await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: (BigInt(last) + 1n).toString() }] }] });
  ctx.metrics.batchSize.observe(messages.length);
  ctx.metrics.batchDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
  const lag = BigInt(batch.highWatermark) - BigInt(last) - 1n;
  ctx.metrics.lag.set({ topic, partition: String(partition) }, Number(lag > 0n ? lag : 0n));
  const ms = (a: bigint, b: bigint) => Number(b - a) / 1e6;
  const end = process.hrtime.bigint();
  log.debug(
    {
      messages: messages.length,
      confirmed,
      rejected,
      redelivered: persisted.redelivered,
      checked: persisted.checked,
      dlq: poison.length,
      ms: { decode: ms(started, decodedAt), postgres: ms(decodedAt, persistedAt), rest: ms(persistedAt, end) },
    },
    'batch committed',
  );
}
