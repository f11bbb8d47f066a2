// Kafka client and consumer construction for the worker: kafkajs logs go through pino, and the
// consumer settings that matter for correctness live here, in one place.
import { Kafka, logLevel, type Consumer, type LogEntry } from 'kafkajs';
import type { Logger } from '../logging.js';
import type { KafkaClientOptions } from './client.js';

/** kafkajs' own logs as pino JSON lines (kafkajs INFO is chatty: it goes to debug). */
export function kafkaLogCreator(logger: Logger) {
  return () =>
    ({ level, log }: LogEntry) => {
      const { message, timestamp: _t, logger: _l, ...extra } = log;
      const child = { kafka: extra };
      if (level === logLevel.ERROR) logger.error(child, message);
      else if (level === logLevel.WARN) logger.warn(child, message);
      else logger.debug(child, message);
    };
}

/** The worker's and the operator's client: `client` from kafkaClientOptions (brokers, TLS, SASL). */
export function createKafka(client: KafkaClientOptions, logger: Logger): Kafka {
  return new Kafka({
    ...client,
    logLevel: logLevel.INFO,
    logCreator: kafkaLogCreator(logger),
    retry: { initialRetryTime: 300, retries: 10 },
  });
}

export interface OrdersConsumerOptions {
  groupId: string;
  maxBytesPerPartition: number;
  sessionTimeoutMs: number;
}

export function createOrdersConsumer(kafka: Kafka, opts: OrdersConsumerOptions): Consumer {
  return kafka.consumer({
    groupId: opts.groupId,
    maxBytesPerPartition: opts.maxBytesPerPartition,
    maxBytes: Math.max(10 * 1024 * 1024, opts.maxBytesPerPartition * 4),
    // Wait a little for a fuller batch: fewer, bigger PostgreSQL transactions.
    maxWaitTimeInMs: 200,
    sessionTimeout: opts.sessionTimeoutMs,
    heartbeatInterval: 3_000,
    allowAutoTopicCreation: false,
  });
}
