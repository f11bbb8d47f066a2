// Topics the e2e suite creates (each test file its own, named e2e-…, with their .dlq) are deleted
// by the suite's global teardown: a long-lived stack would otherwise keep every run's topics (89
// per full e2e run; a dev stack's broker had 563, about 1,000 partition directories), each
// partition one more log the broker opens, flushes and cleans.
import { Kafka, logLevel } from 'kafkajs';

export const E2E_TOPIC_PREFIX = 'e2e-';

/** Deletes every e2e topic, saying how many; a failure is logged, not thrown. */
export async function deleteTestTopics(log: (line: string) => void, brokers = process.env.KAFKA_BROKERS): Promise<void> {
  if (!brokers) return;
  const admin = new Kafka({ clientId: 'e2e-teardown', brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 2 } }).admin();
  try {
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(E2E_TOPIC_PREFIX));
    // In slices: one request naming hundreds of topics can outlast the request timeout.
    for (let i = 0; i < topics.length; i += 100) await admin.deleteTopics({ topics: topics.slice(i, i + 100), timeout: 30_000 });
    if (topics.length > 0) log(`deleted the ${topics.length} topics the e2e tests created (${E2E_TOPIC_PREFIX}…)`);
  } catch (err) {
    log(`could not delete the e2e tests' topics: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
