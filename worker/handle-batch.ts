// What the worker does with one Kafka batch (one partition): decode, persist the orders in one
// transaction (split when PostgreSQL refuses one: bisect.ts), dead-letter what cannot be decoded or
// stored, and only then commit the offsets. Nothing is committed past a message that is not durable
// somewhere (PostgreSQL or the DLQ).
//
// eachBatch returns as soon as the batch's transaction has started (pipeline.ts): kafkajs then
// fetches the next batch, which we decode and prepare (prepare-batch.ts) while PostgreSQL works,
// and which waits for this one to be durable before it starts its own transaction (not for this
// one's offset commit, which pipeline.ts runs meanwhile, in batch order).
import type { EachBatchPayload, KafkaMessage, Producer } from 'kafkajs';
import type { Pool } from 'pg';
import type { PoisonMessage } from '../core/kafka/dlq.js';
import { decodeOrderRecord, encodeOrder, InvalidOrderMessage, type OrderMessage } from '../core/kafka/order-message.js';
import type { Logger } from '../core/logging.js';
import { commitPastBatch } from './commit.js';
import { deadLetter } from './dead-letter.js';
import { recordBatch, recordDecisions, type WorkerMetrics } from './metrics.js';
import { persistBisecting } from './bisect.js';
import { mergeResults, persistBatch } from './persist-batch.js';
import { ORDERS_PER_SLICE, prepareBatch, yieldToEventLoop, type PreparedBatch } from './prepare-batch.js';
import { PartitionPipelines, type JobOutcome } from './pipeline.js';
import { ABORTED, retryUntilDone, withHeartbeat, type Backoff, type RetryOptions } from './retry.js';

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

export interface SplitBatch {
  orders: OrderMessage[];
  /** The Kafka record of each order (same index): a refused order goes to the DLQ (dlqSource). */
  sources: KafkaMessage[];
  /** 1 where the order came in a v2 record of many orders (its DLQ bytes are its own v1 encoding). */
  batched: Uint8Array;
  poison: PoisonMessage[];
}

/**
 * Decodes a batch. It runs while the previous batch's transaction is in PostgreSQL: it yields to the
 * event loop every ORDERS_PER_SLICE orders, so that transaction's replies are handled as they come
 * instead of after the whole batch is decoded (they are the partition's critical path).
 */
export async function splitBatch(topic: string, partition: number, messages: KafkaMessage[]): Promise<SplitBatch> {
  const orders: OrderMessage[] = [];
  const sources: KafkaMessage[] = [];
  const flags: number[] = [];
  const poison: PoisonMessage[] = [];
  let sliceEnd = ORDERS_PER_SLICE;
  for (const message of messages) {
    if (orders.length >= sliceEnd) {
      sliceEnd = orders.length + ORDERS_PER_SLICE;
      await yieldToEventLoop();
    }
    let record;
    try {
      record = decodeOrderRecord(message.value);
    } catch (err) {
      if (!(err instanceof InvalidOrderMessage)) throw err;
      poison.push({ topic, partition, message, reason: err.message });
      continue;
    }
    for (const o of record.orders) {
      orders.push(o);
      sources.push(message);
      flags.push(record.batched ? 1 : 0);
    }
    for (const bad of record.invalid) poison.push({ topic, partition, message: { ...message, value: bad.value }, reason: bad.reason });
  }
  return { orders, sources, batched: Uint8Array.from(flags), poison };
}

/** The record to dead-letter for order i: the v1 record itself, or the order alone out of a v2 record. */
export function dlqSource(split: Pick<SplitBatch, 'orders' | 'sources' | 'batched'>, i: number): KafkaMessage {
  const source = split.sources[i]!;
  return split.batched[i] ? { ...source, value: encodeOrder(split.orders[i]!) } : source;
}

export async function handleBatch(ctx: BatchContext, payload: EachBatchPayload): Promise<void> {
  const { batch, isRunning, isStale, resolveOffset } = payload;
  const { topic, partition, messages } = batch;
  const halted = () => ctx.stopping() || !isRunning() || isStale();
  if (messages.length === 0 || halted()) return;
  const started = process.hrtime.bigint();
  // Both overlap the previous batch's transaction.
  const split = await splitBatch(topic, partition, messages);
  const prepared = await prepareBatch(split.orders);

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
  const done = ctx.pipelines.start(key, messages[0]!.offset, () => persistAndCommit(ctx, payload, split, prepared, started));
  // kafkajs is stopping (rebalance or disconnect): finish this batch and its commit before giving the partition up.
  if (!isRunning()) {
    await done;
    await ctx.pipelines.committed(key);
  }
}

/** Retry options for one stage of a batch: heartbeats while waiting, gives up on shutdown or rebalance. */
function retryOptions(ctx: BatchContext, payload: EachBatchPayload, log: Logger, orders: number) {
  return (stage: 'postgres' | 'dlq'): RetryOptions => ({
    backoff: ctx.backoff,
    heartbeat: payload.heartbeat,
    // On shutdown a batch that cannot be persisted right now is given up (it is redelivered).
    shouldStop: () => ctx.stopping() || !payload.isRunning() || payload.isStale(),
    onRetry: (err: Error, attempt: number, delayMs: number) => {
      ctx.metrics.retries.inc({ stage });
      log.warn({ stage, attempt, delayMs, err: err.message, orders }, 'batch failed, retrying');
    },
  });
}

async function persistAndCommit(
  ctx: BatchContext,
  payload: EachBatchPayload,
  split: SplitBatch,
  prepared: PreparedBatch,
  started: bigint,
): Promise<JobOutcome> {
  const { batch } = payload;
  const { orders, poison: undecodable } = split;
  const log = ctx.logger.child({ topic: batch.topic, partition: batch.partition, firstOffset: batch.messages[0]!.offset, lastOffset: batch.lastOffset() });
  const retry = retryOptions(ctx, payload, log, orders.length);
  const given = (): JobOutcome => {
    log.info('shutting down or rebalancing: batch left uncommitted, it will be redelivered');
    return { durable: false };
  };

  const pgStarted = process.hrtime.bigint();
  const stored = await withHeartbeat(payload.heartbeat, () =>
    persistBisecting(orders, (slice) => persistBatch(ctx.pool, slice, prepared), (op) => retryUntilDone(op, retry('postgres'))),
  );
  const pgDone = process.hrtime.bigint();
  if (stored === ABORTED) return given();
  const persisted = mergeResults(stored.results);
  const refused = stored.refused.map((r) => ({ topic: batch.topic, partition: batch.partition, message: dlqSource(split, r.index), reason: r.reason }));
  const poison = [...undecodable, ...refused].sort((a, b) => (BigInt(a.message.offset) < BigInt(b.message.offset) ? -1 : 1));
  if (!(await deadLetter(ctx, poison, retry('dlq'), log))) return given();
  const { confirmed, rejected } = recordDecisions(ctx.metrics, log, persisted.decisions, persisted.redelivered);
  const durableAt = process.hrtime.bigint();

  // Durable everywhere: now, and only now, the group's offset may move past the batch (pipeline.ts
  // runs this after the partition's previous commits, while the next batch already persists).
  const commit = async () => {
    const commitStarted = process.hrtime.bigint();
    const next = await commitPastBatch(payload, log);
    recordBatch(ctx.metrics, batch, next, started);
    const ms = (a: bigint, b: bigint) => Math.round(Number(b - a) / 1e5) / 10;
    log.debug(
      {
        messages: batch.messages.length,
        confirmed,
        rejected,
        redelivered: persisted.redelivered,
        checked: persisted.checked,
        dlq: poison.length,
        ms: { decodeAndWait: ms(started, pgStarted), postgres: ms(pgStarted, pgDone), commitWait: ms(durableAt, commitStarted), commit: ms(commitStarted, process.hrtime.bigint()) },
      },
      'batch committed',
    );
  };
  return { durable: true, commit };
}
