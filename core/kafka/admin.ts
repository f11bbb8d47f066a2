// Topic creation, shared by the API and the worker: both make sure the orders topic and its
// dead-letter topic exist before they produce or consume. Existing topics are left as they are.
import type { Kafka } from 'kafkajs';
import type { Logger } from '../logging.js';
import { topicsFor } from './topics.js';

export interface EnsureTopicsOptions {
  ordersTopic: string;
  partitions: number;
  logger?: Logger;
}

export async function ensureTopics(kafka: Kafka, opts: EnsureTopicsOptions): Promise<void> {
  const { orders, dlq } = topicsFor(opts.ordersTopic);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = [
      { topic: orders, numPartitions: opts.partitions },
      // Poison is rare: one partition is plenty; keep it a month for forensics.
      { topic: dlq, numPartitions: 1, configEntries: [{ name: 'retention.ms', value: String(30 * 24 * 3600 * 1000) }] },
    ].filter((t) => !existing.has(t.topic));
    if (missing.length === 0) return;
    // createTopics answers false (no throw) when another process created a topic meanwhile.
    await admin.createTopics({ topics: missing, waitForLeaders: true });
    opts.logger?.info({ topics: missing.map((t) => t.topic) }, 'Kafka topics created');
  } finally {
    await admin.disconnect();
  }
}
