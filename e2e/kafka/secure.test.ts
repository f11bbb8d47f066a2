// Kafka over TLS + SASL (and mutual TLS) on the stack's real broker: the API producer, the worker
// consumer and the operator's lag reader each log in as their own user; a broker certificate from
// an unknown CA, a wrong password and every access outside a component's ACLs are refused.
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import kafkajs, { Kafka, logLevel, type Consumer, type LogEntry } from 'kafkajs';
import { loadConfig, pick } from '../../core/config/env.js';
import { ensureTopics } from '../../core/kafka/admin.js';
import { KAFKA_CONNECTION_VARS, connectionVars } from '../../core/config/variables.js';
import { componentAcls } from '../../core/kafka/acls.js';
import { kafkaClientOptions, type KafkaComponent } from '../../core/kafka/client.js';
import { createKafka } from '../../core/kafka/consumer.js';
import { createLogger } from '../../core/logging.js';
import { LagReader } from '../../operator/adapters/lag-reader.js';
import { loadOperatorConfig } from '../../operator/config.js';
import { ensureClientCert, ensureStackPki } from '../../tools/stack/certs.js';
import { requireState } from '../../tools/stack/state.js';
import { initSale, kafka, order, requireEnv, settledSale, startApi, startWorkerFor, uniqueName, waitFor, type ApiHarness } from '../support/api.js';
import type { RunningProcess } from '../support/processes.js';

type Way = 'plain' | 'scram-sha-256' | 'scram-sha-512' | 'mtls';

const COMPONENTS: KafkaComponent[] = ['api', 'worker', 'operator'];
const user = (c: KafkaComponent) => ({
  username: requireEnv(`FLUXGATE_KAFKA_${c.toUpperCase()}_USERNAME`),
  password: requireEnv(`FLUXGATE_KAFKA_${c.toUpperCase()}_PASSWORD`),
});
const users = () => Object.fromEntries(COMPONENTS.map((c) => [c, user(c).username])) as Record<KafkaComponent, string>;

/** The KAFKA_* variables a component is deployed with to log in `way` (mtls: its client certificate, CN = its user). */
function connectionEnv(component: KafkaComponent, way: Way, opts: { clientCert?: boolean } = {}): Record<string, string> {
  const tls = { KAFKA_TLS: 'true', KAFKA_TLS_CA_FILE: requireEnv('FLUXGATE_TLS_CA') };
  const cert = () => {
    const pair = ensureClientCert(requireState(requireEnv('FLUXGATE_STACK_STATE')), user(component).username);
    return { KAFKA_TLS_CERT_FILE: pair.cert, KAFKA_TLS_KEY_FILE: pair.key };
  };
  if (way === 'mtls') return { KAFKA_BROKERS: requireEnv('FLUXGATE_KAFKA_MTLS_BROKERS'), ...tls, ...cert() };
  const { username, password } = user(component);
  return {
    KAFKA_BROKERS: requireEnv('FLUXGATE_KAFKA_SASL_SSL_BROKERS'),
    ...tls,
    ...(opts.clientCert ? cert() : {}),
    KAFKA_SASL_MECHANISM: way,
    KAFKA_SASL_USERNAME: username,
    KAFKA_SASL_PASSWORD: password,
  };
}

/**
 * A kafkajs client built exactly as the processes build theirs, from KAFKA_* variables; no retries.
 * `brokerErrors` collects the Kafka error codes kafkajs only logs (at debug level).
 */
function clientFrom(env: Record<string, string>, component: KafkaComponent = 'api', brokerErrors: string[] = []): Kafka {
  const config = loadConfig(pick(connectionVars, ...KAFKA_CONNECTION_VARS), env);
  return new Kafka({
    ...kafkaClientOptions(config, component),
    connectionTimeout: 10_000,
    retry: { retries: 0 },
    logLevel: logLevel.DEBUG,
    logCreator: () => (entry: LogEntry) => {
      const type = kafkaErrorType((entry.log as { error?: unknown }).error);
      if (type) brokerErrors.push(type);
    },
  });
}

/** Grants each component's user its ACLs on `topic` (and its dead-letter topic) and group `${topic}-group`. */
async function grant(topic: string): Promise<void> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    await admin.createAcls({ acl: componentAcls({ ordersTopic: topic, groupId: `${topic}-group`, users: users() }) });
  } finally {
    await admin.disconnect();
  }
}

/** The Kafka error code (e.g. TOPIC_AUTHORIZATION_FAILED) of a kafkajs error, looking through its wrappers. */
function kafkaErrorType(err: unknown): string | undefined {
  for (let e = err as { type?: string; originalError?: unknown; cause?: unknown } | undefined; e; e = (e.originalError ?? e.cause) as typeof e) {
    if (e.type) return e.type;
  }
  return undefined;
}

/** Runs a consumer of `topic` in `groupId` until it crashes; returns why. */
async function consumerCrash(client: Kafka, groupId: string, topic: string): Promise<Error> {
  const consumer: Consumer = client.consumer({ groupId, retry: { retries: 0, restartOnFailure: async () => false } });
  let crash: Error | undefined;
  consumer.on(consumer.events.CRASH, (e) => (crash = e.payload.error));
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({ eachMessage: async () => undefined });
    return await waitFor(`consumer in ${groupId} to be refused`, async () => crash, 60_000);
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}

describe('Kafka over TLS with SASL or client certificates, one user per component', () => {
  // Each round: every component logs in another way, so each mechanism is used by each component once.
  const rounds: Array<{ name: string; ways: Record<KafkaComponent, Way>; apiClientCert?: boolean }> = [
    { name: 'API scram-sha-256, worker scram-sha-512, lag reader plain', ways: { api: 'scram-sha-256', worker: 'scram-sha-512', operator: 'plain' } },
    { name: 'API scram-sha-512, worker plain, lag reader scram-sha-256', ways: { api: 'scram-sha-512', worker: 'plain', operator: 'scram-sha-256' } },
    {
      name: 'API plain with a client certificate too, worker scram-sha-256, lag reader scram-sha-512',
      ways: { api: 'plain', worker: 'scram-sha-256', operator: 'scram-sha-512' },
      apiClientCert: true,
    },
    { name: 'all three by client certificate (mTLS listener, no SASL)', ways: { api: 'mtls', worker: 'mtls', operator: 'mtls' } },
  ];

  let h: ApiHarness | undefined;
  let worker: RunningProcess | undefined;
  let reader: LagReader | undefined;
  afterEach(async () => {
    await reader?.close();
    await worker?.stop('SIGKILL');
    await h?.close();
    [h, worker, reader] = [undefined, undefined, undefined];
  });

  for (const [i, round] of rounds.entries()) {
    it(`an order end to end: ${round.name}`, async () => {
      h = await startApi(`secure-${i}`, connectionEnv('api', round.ways.api, { clientCert: round.apiClientCert }), grant);
      const productId = uniqueName('secure');
      await initSale(h.base, { productId, quantity: 5 });
      const res = await order(h.base, { productId, userId: 'alice' });
      expect(res.status).toBe(200);

      worker = await startWorkerFor(h, connectionEnv('worker', round.ways.worker));
      const settled = await settledSale(h, productId, [res.body.orderId]);
      expect(settled.orders.map((o) => [o.id, o.status])).toEqual([[res.body.orderId, 'confirmed']]);

      // The operator's lag reader, built from the operator's own configuration loader.
      const groupId = `${h.topic}-group`;
      const cfg = loadOperatorConfig({
        REDIS_URL: requireEnv('REDIS_URL'),
        DATABASE_URL: requireEnv('DATABASE_URL'),
        ORDERS_TOPIC: h.topic,
        KAFKA_GROUP_ID: groupId,
        ...connectionEnv('operator', round.ways.operator),
      });
      const client = createKafka(kafkaClientOptions(cfg, 'operator'), createLogger('operator', 'silent'));
      reader = new LagReader(client.admin({ retry: { retries: 1, initialRetryTime: 200 } }), groupId, h.topic, 30_000);
      const reading = await waitFor('the lag reader to see the order committed', async () => {
        const r = await reader!.read();
        return r.lag.total === 0 && [...r.committed.values()].some((o) => o !== '-1') ? r : undefined;
      }, 60_000);
      expect([...reading.high.values()].reduce((s, o) => s + o, 0n)).toBe(1n);
      expect(reading.lag.total).toBe(0);
    }, 300_000);
  }
});

describe('Kafka refusals', () => {
  let topic: string;
  beforeAll(async () => {
    topic = uniqueName('e2e-kafka-acl');
    await ensureTopics(kafka(), { ordersTopic: topic, partitions: 1 });
    await grant(topic);
  });

  it('a client that trusts only another CA refuses the broker certificate', async () => {
    const env = { ...connectionEnv('api', 'scram-sha-512'), KAFKA_TLS_CA_FILE: ensureStackPki(requireState(requireEnv('FLUXGATE_STACK_STATE'))).unknownCaCert };
    const admin = clientFrom(env).admin();
    const err = await admin.connect().then(() => undefined, (e: Error) => e);
    await admin.disconnect().catch(() => undefined);
    // The broker sends its leaf certificate only; nothing the client trusts signed it.
    expect(err?.message).toBe('Connection error: unable to verify the first certificate');
  });

  const refusals = {
    plain: 'SASL PLAIN authentication failed: Authentication failed: Invalid username or password',
    'scram-sha-256': 'SASL SCRAM SHA256 authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256',
    'scram-sha-512': 'SASL SCRAM SHA512 authentication failed: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512',
  } as const;
  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512'] as const) {
    it(`a wrong password is refused (${mechanism}) with the broker's authentication error`, async () => {
      const env = { ...connectionEnv('api', mechanism), KAFKA_SASL_PASSWORD: 'not-the-password' };
      const admin = clientFrom(env).admin();
      const err = await admin.connect().then(() => undefined, (e: Error) => e);
      await admin.disconnect().catch(() => undefined);
      expect(err?.name).toBe('KafkaJSSASLAuthenticationError');
      expect(err?.message).toBe(refusals[mechanism]);
    });
  }

  it("the API's user may produce (idempotent) but neither join the worker group nor read the orders topic", async () => {
    const brokerErrors: string[] = [];
    const api = clientFrom(connectionEnv('api', 'scram-sha-512'), 'api', brokerErrors);
    const producer = api.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false, retry: { retries: 3 } });
    await producer.connect();
    try {
      await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'allowed' }] });
    } finally {
      await producer.disconnect();
    }
    // kafkajs reports "Failed to find group coordinator"; the broker's answer (FindCoordinator needs
    // DESCRIBE on the group) is in its debug log.
    const joining = await consumerCrash(api, `${topic}-group`, topic);
    expect(joining.name).toBe('KafkaJSGroupCoordinatorNotFound');
    expect(brokerErrors).toContain('GROUP_AUTHORIZATION_FAILED');
    expect(brokerErrors).not.toContain('TOPIC_AUTHORIZATION_FAILED');
    // Even in a group of its own, the topic is not readable: READ on orders is the worker's alone.
    const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;
    const admin = kafka().admin();
    await admin.connect();
    await admin.createAcls({
      acl: [{
        resourceType: AclResourceTypes.GROUP, resourceName: `${topic}-api-probe`, resourcePatternType: ResourcePatternTypes.LITERAL,
        principal: `User:${users().api}`, host: '*', operation: AclOperationTypes.READ, permissionType: AclPermissionTypes.ALLOW,
      }],
    });
    await admin.disconnect();
    const reading = await consumerCrash(api, `${topic}-api-probe`, topic);
    expect(kafkaErrorType(reading), `${reading.name}: ${reading.message}`).toBe('TOPIC_AUTHORIZATION_FAILED');
  });

  it("the worker's and the operator's users cannot write to the orders topic", async () => {
    for (const component of ['worker', 'operator'] as const) {
      const producer = clientFrom(connectionEnv(component, 'scram-sha-256'), component).producer({ allowAutoTopicCreation: false });
      await producer.connect();
      const err = await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: 'forbidden' }] }).then(() => undefined, (e: Error) => e);
      await producer.disconnect();
      expect(kafkaErrorType(err), `${component}: ${err?.message}`).toBe('TOPIC_AUTHORIZATION_FAILED');
    }
  });
});
