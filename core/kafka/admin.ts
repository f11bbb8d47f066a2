// Topic creation, shared by the API and the worker: both make sure the orders topic and its
// dead-letter topic exist before they produce or consume. Existing topics are left as they are.
// Durability is explicit, never the broker's defaults: each topic is created with a replication
// factor and min.insync.replicas, and a start-up warning says when acks=all means one copy.
import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from '../logging.js';
import { topicsFor } from './topics.js';

export interface EnsureTopicsOptions {
  ordersTopic: string;
  partitions: number;
  /** Absent: min(3, brokers in the cluster). */
  replicationFactor?: number;
  /** Absent: replicationFactor − 1, at least 1. */
  minInsyncReplicas?: number;
  logger?: Logger;
}

/** The replication settings a topic is created with (pure: the defaults documented in variables.ts). */
export function topicDurability(brokers: number, opts: Pick<EnsureTopicsOptions, 'replicationFactor' | 'minInsyncReplicas'>) {
  const replicationFactor = opts.replicationFactor ?? Math.max(1, Math.min(3, brokers));
  const minInsyncReplicas = opts.minInsyncReplicas ?? Math.max(1, replicationFactor - 1);
  if (minInsyncReplicas > replicationFactor)
    throw new RangeError(
      `ORDERS_TOPIC_MIN_INSYNC_REPLICAS (${minInsyncReplicas}) must be <= the replication factor (${replicationFactor}): no acks=all write could succeed`,
    );
  return { replicationFactor, minInsyncReplicas };
}

export async function ensureTopics(kafka: Kafka, opts: EnsureTopicsOptions): Promise<void> {
  const { orders, dlq } = topicsFor(opts.ordersTopic);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const brokers = (await admin.describeCluster()).brokers.length;
    const { replicationFactor, minInsyncReplicas } = topicDurability(brokers, opts);
    const durability = [{ name: 'min.insync.replicas', value: String(minInsyncReplicas) }];
    const missing = [
      { topic: orders, numPartitions: opts.partitions, replicationFactor, configEntries: durability },
      // Poison is rare: one partition is plenty; keep it a month for forensics.
      {
        topic: dlq,
        numPartitions: 1,
        replicationFactor,
        configEntries: [...durability, { name: 'retention.ms', value: String(30 * 24 * 3600 * 1000) }],
      },
    ].filter((t) => !existing.has(t.topic));
    if (missing.length > 0) {
      // createTopics answers false (no throw) when another process created a topic meanwhile.
      await admin.createTopics({ topics: missing, waitForLeaders: true }).catch((err: Error & { errors?: Array<{ topic?: string; type?: string; message?: string }> }) => {
        const why = err.errors?.map((e) => `${e.topic}: ${e.type ?? e.message}`).join(', ');
        throw new Error(`cannot create Kafka topics (replication factor ${replicationFactor}, min.insync.replicas ${minInsyncReplicas}, ${brokers} brokers): ${why ?? err.message}`, { cause: err });
      });
      opts.logger?.info({ topics: missing.map((t) => t.topic), replicationFactor, minInsyncReplicas }, 'Kafka topics created');
    }
    await warnIfOneCopy(admin, [orders, dlq], opts.logger);
  } finally {
    await admin.disconnect();
  }
}

/** What the topics really have (created by us or by someone else): replicas and min.insync.replicas. */
export async function readDurability(admin: Admin, topics: string[]) {
  const meta = await admin.fetchTopicMetadata({ topics });
  const configs = await admin.describeConfigs({
    includeSynonyms: false,
    resources: topics.map((name) => ({ type: 2 /* ConfigResourceTypes.TOPIC */, name, configNames: ['min.insync.replicas'] })),
  });
  return meta.topics.map((t) => {
    const entry = configs.resources.find((r) => r.resourceName === t.name)?.configEntries.find((e) => e.configName === 'min.insync.replicas');
    return {
      topic: t.name,
      replicationFactor: Math.min(...t.partitions.map((p) => p.replicas.length)),
      minInsyncReplicas: Number(entry?.configValue ?? 1),
    };
  });
}

async function warnIfOneCopy(admin: Admin, topics: string[], logger?: Logger): Promise<void> {
  for (const d of (await readDurability(admin, topics)).sort((a, b) => topics.indexOf(a.topic) - topics.indexOf(b.topic))) {
    if (d.replicationFactor >= 2 && d.minInsyncReplicas >= 2) continue;
    logger?.warn(
      { ...d },
      `Kafka topic ${d.topic}: acks=all means one copy (replication factor ${d.replicationFactor}, min.insync.replicas ${d.minInsyncReplicas}); ` +
        'an accepted order is lost if that broker\'s disk is; set ORDERS_TOPIC_REPLICATION_FACTOR / ORDERS_TOPIC_MIN_INSYNC_REPLICAS on a cluster of 3 brokers or more',
    );
  }
}
