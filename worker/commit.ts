// The offset commit of a durable batch. Called only once every message of the batch is in
// PostgreSQL or the DLQ; a failed commit loses nothing (the next commit covers it, or the next
// owner gets the batch again and finds it stored: a no-op).
import type { EachBatchPayload } from 'kafkajs';
import type { Logger } from '../core/logging.js';

/** Commits past the batch; returns the next offset to read. */
export async function commitPastBatch(payload: EachBatchPayload, log: Logger): Promise<string> {
  const { topic, partition } = payload.batch;
  const next = (BigInt(payload.batch.lastOffset()) + 1n).toString();
  try {
    await payload.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next }] }] });
  } catch (err) {
    log.warn({ err: (err as Error).message, offset: next }, 'offset commit failed after the batch was persisted');
  }
  return next;
}
