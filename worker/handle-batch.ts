// What the worker does with one Kafka batch (one partition): decode, dead-letter the poison,
// persist the rest in one transaction, and only then commit the offsets. Nothing is committed past
// a message that is not durable somewhere (PostgreSQL or the DLQ).
//
// eachBatch returns as soon as the batch's transaction has started (pipeline.ts): kafkajs then
// fetches the next batch, which we decode while PostgreSQL works, and which waits for this one to
// be durable before it starts its own transaction.
import type { EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import type { Pool } from 'pg';
import { sendToDlq, type PoisonMessage } from '../core/kafka/dlq.js';
import { decodeOrder, InvalidOrderMessage, type OrderMessage } from '../core/kafka/order-message.js';
import type { Logger } from '../core/logging.js';
import type { WorkerMetrics } from './metrics.js';
import { persistBatch } from './persist-batch.js';
import { PartitionPipelines, type JobOutcome } from './pipeline.js';
import { ABORTED, retryUntilDone, type Backoff } from './retry.js';

const HEARTBEAT_EVERY_MS = 1_000;

export interface BatchContext {
  pool: Pool;
  producer: Producer;
  dlqTopic: string;
  backoff: Backoff;
  metrics: WorkerMetrics;
  logger: Logger;
  pipelines: PartitionPipelines;
  /** Most batches in PostgreSQL at once (one connection each). */
  maxInFlight: number;
  /** True once shutdown began: start nothing new, let the batches in flight finish. */
  stopping: () => boolean;
  /** Rewinds the partition's fetch position (consumer.seek). */
  seek: (topic: string, partition: number, offset: string) => void;
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
  const { batch, isRunning, isStale, resolveOffset } = payload;
  const { topic, partition, messages } = batch;
  const halted = () => ctx.stopping() || !isRunning() || isStale();
  if (messages.length === 0 || halted()) return;
  const started = process.hrtime.bigint();
  const split = splitBatch(topic, partition, messages); // overlaps the previous batch's transaction

  const key = PartitionPipelines.key(topic, partition);
  const notDurable = await ctx.pipelines.waitPrevious(key);
  if (notDurable) {
    // The previous batch is not in PostgreSQL: drop this one and fetch again from the previous one.
    if (!halted()) ctx.seek(topic, partition, notDurable.firstOffset);
    ctx.logger.info({ topic, partition, rewindTo: notDurable.firstOffset }, 'previous batch not persisted: partition rewound');
    return;
  }
  await ctx.pipelines.waitForRoom(ctx.maxInFlight);
  if (halted()) return;
  // Moves the FETCH position past this batch; the group's committed offset moves only once it is durable.
  resolveOffset(messages[messages.length - 1]!.offset);
  const done = ctx.pipelines.start(key, messages[0]!.offset, () => persistAndCommit(ctx, payload, split, started));
  // kafkajs is stopping (rebalance or disconnect): finish this batch before giving the partition up.
  if (!isRunning()) await done;
}

async function persistAndCommit(
  ctx: BatchContext,
  payload: EachBatchPayload,
  { orders, poison }: { orders: OrderMessage[]; poison: PoisonMessage[] },
  started: bigint,
): Promise<JobOutcome> {
  const { batch, heartbeat, isRunning, isStale, commitOffsetsIfNecessary } = payload;
  const { topic, partition, messages } = batch;
  const log = ctx.logger.child({ topic, partition, firstOffset: messages[0]!.offset, lastOffset: batch.lastOffset() });
  const retry = (stage: 'postgres' | 'dlq') => ({
    backoff: ctx.backoff,
    heartbeat,
    // On shutdown a batch that cannot be persisted right now is given up (it is redelivered).
    shouldStop: () => ctx.stopping() || !isRunning() || isStale(),
    onRetry: (err: Error, attempt: number, delayMs: number) => {
      ctx.metrics.retries.inc({ stage });
      log.warn({ stage, attempt, delayMs, err: err.message, orders: orders.length }, 'batch failed, retrying');
    },
  });

  const pgStarted = process.hrtime.bigint();
  // A slow transaction (PostgreSQL under load, a lock held by someone) must not cost us the group
  // membership: heartbeat in the background while it runs (errors surface at the next heartbeat).
  const keepAlive = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_EVERY_MS);
  const persisted = await retryUntilDone(() => persistBatch(ctx.pool, orders), retry('postgres')).finally(() =>
    clearInterval(keepAlive),
  );
  const pgDone = process.hrtime.bigint();
  if (persisted === ABORTED) {
    log.info('shutting down or rebalancing: batch left uncommitted, it will be redelivered');
    return { durable: false };
  }
  if (poison.length > 0) {
    const sent = await retryUntilDone(() => sendToDlq(ctx.producer, ctx.dlqTopic, poison), retry('dlq'));
    if (sent === ABORTED) {
      log.info('shutting down or rebalancing: batch left uncommitted, it will be redelivered');
      return { durable: false };
    }
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

  // Durable everywhere: now, and only now, move the group's offset past the batch. If this commit
  // fails (rebalance, coordinator moved) nothing is lost: the next commit covers it, or the next
  // owner gets the batch again and finds it stored (no-op).
  const next = (BigInt(batch.lastOffset()) + 1n).toString();
  try {
    await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next }] }] });
  } catch (err) {
    log.warn({ err: (err as Error).message, offset: next }, 'offset commit failed after the batch was persisted');
  }
  ctx.metrics.batchSize.observe(messages.length);
  ctx.metrics.batchDuration.observe(Number(process.hrtime.bigint() - started) / 1e9);
  const lag = BigInt(batch.highWatermark) - BigInt(next);
  ctx.metrics.lag.set({ topic, partition: String(partition) }, Number(lag > 0n ? lag : 0n));
  const ms = (a: bigint, b: bigint) => Math.round(Number(b - a) / 1e5) / 10;
  log.debug(
    {
      messages: messages.length,
      confirmed,
      rejected,
      redelivered: persisted.redelivered,
      checked: persisted.checked,
      dlq: poison.length,
      ms: { decodeAndWait: ms(started, pgStarted), postgres: ms(pgStarted, pgDone), commit: ms(pgDone, process.hrtime.bigint()) },
    },
    'batch committed',
  );
  return { durable: true };
}
