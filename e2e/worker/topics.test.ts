// Topic durability is explicit: the orders and DLQ topics are created with the configured
// replication factor and min.insync.replicas (not the broker's defaults), and a process warns at
// start when acks=all means one copy. The local stack has one broker.
import { describe, expect, it } from 'vitest';
import { ensureTopics, readDurability } from '../../core/kafka/admin.js';
import type { Logger } from '../../core/logging.js';
import { kafka, uniqueName } from './support.js';

function recordingLogger() {
  const warnings: string[] = [];
  const logger = { info: () => undefined, warn: (_o: unknown, msg: string) => void warnings.push(msg) } as unknown as Logger;
  return { logger, warnings };
}

describe('orders topic durability', () => {
  it('creates both topics with the configured min.insync.replicas and warns that acks=all means one copy', async () => {
    const topic = uniqueName('e2e-durability');
    const { logger, warnings } = recordingLogger();
    await ensureTopics(kafka(), { ordersTopic: topic, partitions: 2, replicationFactor: 1, minInsyncReplicas: 1, logger });
    const admin = kafka().admin();
    await admin.connect();
    try {
      const configs = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [topic, `${topic}.dlq`].map((name) => ({ type: 2, name, configNames: ['min.insync.replicas'] })),
      });
      // Set on the topic itself (not inherited from the broker).
      for (const r of configs.resources) expect(r.configEntries[0]).toMatchObject({ configValue: '1', isDefault: false });
      expect(await readDurability(admin, [topic])).toEqual([{ topic, replicationFactor: 1, minInsyncReplicas: 1 }]);
    } finally {
      await admin.disconnect();
    }
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(new RegExp(`^Kafka topic ${topic}: acks=all means one copy \\(replication factor 1, min.insync.replicas 1\\)`));
  });

  it('asks the broker for the configured replication factor (more than one broker has: refused)', async () => {
    const topic = uniqueName('e2e-durability');
    await expect(ensureTopics(kafka(), { ordersTopic: topic, partitions: 1, replicationFactor: 3 })).rejects.toThrow(
      /^cannot create Kafka topics \(replication factor 3, min.insync.replicas 2, 1 brokers\): .*INVALID_REPLICATION_FACTOR/,
    );
    expect(await kafka().admin().listTopics()).not.toContain(topic);
  });

  it('refuses a min.insync.replicas above the replication factor before creating anything', async () => {
    const topic = uniqueName('e2e-durability');
    await expect(ensureTopics(kafka(), { ordersTopic: topic, partitions: 1, replicationFactor: 1, minInsyncReplicas: 2 })).rejects.toThrow(
      'ORDERS_TOPIC_MIN_INSYNC_REPLICAS (2) must be <= the replication factor (1): no acks=all write could succeed',
    );
  });
});
