// DLQ routing: a message the worker can never store goes to the dead-letter topic (bytes kept,
// reason in a header) before the batch's offset is committed, so nothing is skipped silently.
import type { Producer } from 'kafkajs';
import { sendToDlq, type PoisonMessage } from '../core/kafka/dlq.js';
import type { Logger } from '../core/logging.js';
import type { WorkerMetrics } from './metrics.js';
import { ABORTED, retryUntilDone, type RetryOptions } from './retry.js';

export interface DeadLetterContext {
  producer: Producer;
  dlqTopic: string;
  metrics: WorkerMetrics;
}

/** Sends the poison (retrying until the DLQ has it). False when given up on shutdown or rebalance. */
export async function deadLetter(ctx: DeadLetterContext, poison: readonly PoisonMessage[], retry: RetryOptions, log: Logger): Promise<boolean> {
  if (poison.length === 0) return true;
  const sent = await retryUntilDone(() => sendToDlq(ctx.producer, ctx.dlqTopic, [...poison]), retry);
  if (sent === ABORTED) return false;
  for (const p of poison) log.warn({ offset: p.message.offset, reason: p.reason, dlqTopic: ctx.dlqTopic }, 'poison message sent to the DLQ');
  ctx.metrics.dlq.inc(poison.length);
  return true;
}
