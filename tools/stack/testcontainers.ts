// Services from Docker via testcontainers, for machines that have a Docker engine.
// Chaos tests (ServiceControl) need the local stack; they are not supported here.
import { KafkaContainer } from '@testcontainers/kafka';
import { PostgreSqlContainer } from '@testcontainers/postgresql';
import { RedisContainer } from '@testcontainers/redis';

export async function startContainers(): Promise<{ vars: Record<string, string>; stop: () => Promise<void> }> {
  const [redis, postgres, kafka] = await Promise.all([
    new RedisContainer('redis:7.4-alpine').withCommand(['redis-server', '--save', '', '--appendonly', 'no']).start(),
    new PostgreSqlContainer('postgres:15-alpine').withDatabase('fluxgate').withUsername('fluxgate').withPassword('fluxgate').start(),
    new KafkaContainer('confluentinc/cp-kafka:7.9.2')
      .withKraft()
      .withEnvironment({ KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false', KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0' })
      .start(),
  ]);
  return {
    vars: {
      REDIS_URL: `${redis.getConnectionUrl()}/0`,
      DATABASE_URL: postgres.getConnectionUri(),
      KAFKA_BROKERS: `${kafka.getHost()}:${kafka.getMappedPort(9093)}`,
    },
    stop: async () => {
      await Promise.all([redis.stop(), postgres.stop(), kafka.stop()]);
    },
  };
}
