// The stack's services are real, and ServiceControl stops and starts them with state kept
// (PostgreSQL rows, Kafka topics and offsets) or lost (Redis, which runs without persistence).
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ServiceControl } from '../../tools/stack/control.js';

const vars = inject('stack').vars;
const kafka = new Kafka({ clientId: 'e2e-stack', brokers: vars.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING });
const topic = `e2e-stack-${randomUUID().slice(0, 8)}`;

async function sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: vars.DATABASE_URL });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Reads every message of the topic from the beginning with a fresh consumer group. */
async function readAll(expected: number): Promise<string[]> {
  const consumer = kafka.consumer({ groupId: `${topic}-${randomUUID().slice(0, 8)}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const values: string[] = [];
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        values.push(message.value!.toString());
        if (values.length === expected) resolve();
      },
    });
  });
  await consumer.disconnect();
  return values.sort();
}

describe('local stack', () => {
  const redis = new Redis(vars.REDIS_URL!, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined); // refused reconnects while the Redis restart test runs
  afterAll(() => redis.disconnect());

  it('exports the three service URLs on 127.0.0.1 to the tests', () => {
    expect(process.env.REDIS_URL).toBe(vars.REDIS_URL);
    expect(process.env.DATABASE_URL).toBe(vars.DATABASE_URL);
    expect(process.env.KAFKA_BROKERS).toBe(vars.KAFKA_BROKERS);
    expect(new URL(vars.REDIS_URL!).hostname).toBe('127.0.0.1');
    expect(new URL(vars.DATABASE_URL!).hostname).toBe('127.0.0.1');
    expect(vars.KAFKA_BROKERS!.startsWith('127.0.0.1:')).toBe(true);
  });

  it('Redis answers SET and GET', async () => {
    await redis.set(`${topic}:k`, 'v1');
    expect(await redis.get(`${topic}:k`)).toBe('v1');
  });

  it('PostgreSQL answers queries as the fluxgate user', async () => {
    expect(await sql('SELECT current_user AS u, current_database() AS d, 1 + 1 AS two')).toEqual([{ u: 'fluxgate', d: 'fluxgate', two: 2 }]);
  });

  it('Kafka creates a topic, takes messages and hands them to a consumer group', async () => {
    const admin = kafka.admin();
    await admin.connect();
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true })).toBe(true);
    await admin.disconnect();
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic, acks: -1, messages: ['a', 'b', 'c'].map((v) => ({ key: v, value: v })) });
    await producer.disconnect();
    expect(await readAll(3)).toEqual(['a', 'b', 'c']);
  });

  describe('ServiceControl', () => {
    const control = new ServiceControl();

    it('restarts Kafka with its topics and messages kept', async () => {
      const before = control.pid('kafka');
      await control.stop('kafka');
      expect(control.isRunning('kafka')).toBe(false);
      await control.start('kafka');
      expect(control.pid('kafka')).not.toBe(before);
      expect(await readAll(3)).toEqual(['a', 'b', 'c']);
    });

    it('restarts PostgreSQL with its rows kept', async () => {
      const table = `stack_${randomUUID().slice(0, 8)}`;
      await sql(`CREATE TABLE ${table} (n int)`);
      await sql(`INSERT INTO ${table} VALUES (1), (2), (3)`);
      await control.stop('postgres');
      expect(control.isRunning('postgres')).toBe(false);
      await expect(sql('SELECT 1')).rejects.toThrow();
      await control.start('postgres');
      expect(await sql(`SELECT sum(n)::int AS s FROM ${table}`)).toEqual([{ s: 6 }]);
      await sql(`DROP TABLE ${table}`);
    });

    it('crashes PostgreSQL (SIGKILL to every backend) and it recovers its committed rows', async () => {
      const table = `stack_${randomUUID().slice(0, 8)}`;
      await sql(`CREATE TABLE ${table} (n int)`);
      await sql(`INSERT INTO ${table} VALUES (7)`);
      await control.restart('postgres', { hard: true });
      expect(await sql(`SELECT n FROM ${table}`)).toEqual([{ n: 7 }]);
      await sql(`DROP TABLE ${table}`);
    });

    it('restarts Redis empty, like a crash without persistence', async () => {
      await redis.set(`${topic}:k`, 'v1');
      const runIdBefore = /run_id:(\w+)/.exec(await redis.info('server'))![1];
      await control.restart('redis');
      const fresh = new Redis(vars.REDIS_URL!, { maxRetriesPerRequest: 1 });
      fresh.on('error', () => undefined);
      try {
        expect(await fresh.get(`${topic}:k`)).toBeNull();
        expect(await fresh.dbsize()).toBe(0);
        expect(/run_id:(\w+)/.exec(await fresh.info('server'))![1]).not.toBe(runIdBefore);
      } finally {
        fresh.disconnect();
      }
    });
  });
});
