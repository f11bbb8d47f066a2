// The README's "Install — secured" on the real node: the Secrets it lists created with kubectl from
// the stack's own CA and users, `helm install` with exactly its values block (only addresses and
// names pointed at the stack), every pod Ready, a FlashSale sold out through the API Service, and
// the stores themselves showing the pods came in over TLS as their own users: Redis CLIENT LIST,
// PostgreSQL pg_stat_ssl, Kafka users that can do nothing but what their ACLs allow.
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { componentAcls } from '../../core/kafka/acls.js';
import { topicsFor } from '../../core/kafka/topics.js';
import { ensureClientCert, ensureStackPki } from '../../tools/stack/certs.js';
import { stackPaths } from '../../tools/stack/paths.js';
import { stackKafkaUsers } from '../../tools/stack/services/kafka.js';
import { PG_TLS_PASSWORD, PG_TLS_USER } from '../../tools/stack/services/postgres.js';
import { STACK_REDIS_USERS } from '../../tools/stack/services/redis.js';
import { requireState } from '../../tools/stack/state.js';
import { securedInstallDoc } from '../support/secured-values.js';
import { CHART, confirmedInPostgres, helm, kubectl, kubectlJson, nodePortOf, podsSummary, sendOrders, waitFor } from './cluster.js';

const cluster = inject('cluster');
const state = requireState(stackPaths().stateDir);
const ns = `fg-secured-${Date.now().toString(36)}`;
const release = 'flux-gate';
const database = `fg_${ns.replaceAll('-', '_')}`; // owned by the TLS-only role, so migrate may create the tables
const doc = securedInstallDoc();
const log = (line: string) => process.stderr.write(`[cluster secured] ${line}\n`);
const pki = ensureStackPki(state);
const kafkaUsers = stackKafkaUsers(state);
const pgClientCert = ensureClientCert(state, PG_TLS_USER);

/** The Secrets of the README's list, filled from the stack (its CA signed every store's certificate). */
function secretsToCreate(): Array<{ name: string; args: string[] }> {
  const ca = (name: string) => ({ name, args: ['generic', name, `--from-file=ca.crt=${pki.caCert}`] });
  return [
    ca('flux-gate-postgres-ca'),
    { name: 'flux-gate-postgres', args: ['generic', 'flux-gate-postgres', `--from-literal=password=${PG_TLS_PASSWORD}`] },
    { name: 'flux-gate-postgres-client', args: ['tls', 'flux-gate-postgres-client', `--cert=${pgClientCert.cert}`, `--key=${pgClientCert.key}`] },
    ca('flux-gate-redis-ca'),
    { name: 'flux-gate-redis', args: ['generic', 'flux-gate-redis', `--from-literal=api=${STACK_REDIS_USERS.api.password}`, `--from-literal=operator=${STACK_REDIS_USERS.operator.password}`] },
    ca('flux-gate-kafka-ca'),
    { name: 'flux-gate-kafka', args: ['generic', 'flux-gate-kafka', ...(['api', 'worker', 'operator'] as const).map((c) => `--from-literal=${c}=${kafkaUsers[c].password}`)] },
  ];
}

/** Only where the stores are and per-namespace names: every security setting stays the README's. */
function stackOverrides(): string {
  const file = join(tmpdir(), `fg-values-${ns}-stack.yaml`);
  writeFileSync(file, stringify({
    image: { repository: cluster.image.repository, tag: cluster.image.tag, pullPolicy: 'Never' },
    postgres: { host: cluster.hostIp, port: state.ports.postgres, user: PG_TLS_USER, database },
    kafka: { brokers: [`${cluster.hostIp}:${state.ports.kafkaNodeSaslSsl}`], ordersTopic: `orders-${ns}`, groupId: `worker-${ns}`, ordersTopicPartitions: 3 },
    redis: { mode: 'single', host: cluster.hostIp, port: state.ports.redisTls },
    api: { service: { type: 'NodePort' }, autoscaling: { enabled: false }, replicaCount: 2 },
  }));
  return file;
}

/** Topics and ACLs for this namespace's names, over PLAINTEXT as the admin (none of the users may create topics). */
async function prepareKafka(): Promise<void> {
  const admin = new Kafka({ clientId: 'fg-secured-setup', brokers: [`127.0.0.1:${state.ports.kafka}`], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const { orders, dlq } = topicsFor(`orders-${ns}`);
    await admin.createTopics({ topics: [{ topic: orders, numPartitions: 3 }, { topic: dlq, numPartitions: 1 }], waitForLeaders: true });
    await admin.createAcls({
      acl: componentAcls({ ordersTopic: `orders-${ns}`, groupId: `worker-${ns}`, users: { api: kafkaUsers.api.username, worker: kafkaUsers.worker.username, operator: kafkaUsers.operator.username } }),
    });
  } finally {
    await admin.disconnect();
  }
}

// The role is refused without TLS (hostnossl … reject): the test's own reads go over verified TLS too.
const pgTlsUrl = (db: string) => `postgres://${PG_TLS_USER}:${PG_TLS_PASSWORD}@127.0.0.1:${state.ports.postgres}/${db}?sslmode=verify-full&sslrootcert=${encodeURIComponent(pki.caCert)}`;
const adminPg = () => new pg.Client({ connectionString: pgTlsUrl('fluxgate') });

describe('README "Install — secured" on the local node', () => {
  beforeAll(async () => {
    const admin = adminPg();
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`).finally(() => admin.end());
    await prepareKafka();
    await kubectl(['create', 'namespace', ns]);
    await kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=restricted']);
    for (const s of secretsToCreate()) await kubectl(['create', 'secret', ...s.args, '-n', ns]);
    const readmeValues = join(tmpdir(), `fg-values-${ns}-readme.yaml`);
    writeFileSync(readmeValues, doc.valuesText);
    const t0 = Date.now();
    await helm(['install', release, CHART, '-n', ns, '--values', readmeValues, '--values', stackOverrides(), '--wait', '--timeout', '10m'])
      .catch(async (err: Error) => {
        throw new Error(`${err.message}\n${await podsSummary(ns)}\n${await kubectl(['get', 'events', '-n', ns, '--sort-by=.lastTimestamp']).catch(() => '')}`);
      });
    log(`helm install --wait (migrate hook included) to every pod Ready: ${Math.round((Date.now() - t0) / 1000)} s`);
  });

  afterAll(async () => {
    await kubectl(['delete', 'flashsales.fluxgate.io', '--all', '-n', ns, '--wait=true', '--timeout=120s']).catch((e: Error) => log(e.message));
    await helm(['uninstall', release, '-n', ns, '--wait', '--timeout', '5m']).catch((e: Error) => log(e.message));
    await kubectl(['delete', 'namespace', ns, '--wait=false']).catch((e: Error) => log(e.message));
    const admin = adminPg();
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch((e: Error) => log(e.message)).finally(() => admin.end());
  });

  it('created exactly the Secrets the README lists, and kept every security value of its block', async () => {
    expect(secretsToCreate().map((s) => s.name).sort()).toEqual(doc.createdSecrets);
    // --all adds the chart's defaults: the README's settings must be there, unchanged.
    const values = parse(await helm(['get', 'values', release, '-n', ns, '--all', '-o', 'yaml']));
    const readme = parse(doc.valuesText);
    expect(values.postgres.tls).toMatchObject(readme.postgres.tls);
    expect(values.kafka.tls).toMatchObject(readme.kafka.tls);
    expect(values.kafka.sasl).toMatchObject(readme.kafka.sasl);
    expect(values.redis.tls).toMatchObject(readme.redis.tls);
    expect(values.redis.auth).toMatchObject(readme.redis.auth);
  });

  it('sells exactly the stock through the API Service, every order confirmed in PostgreSQL', async () => {
    const productId = `secured-${ns}`;
    const stock = 50;
    const now = Date.now();
    await kubectl(['apply', '-f', '-'], JSON.stringify({
      apiVersion: 'fluxgate.io/v1alpha1',
      kind: 'FlashSale',
      metadata: { name: 'drop', namespace: ns },
      spec: {
        productId, stock,
        startsAt: new Date(now - 60_000).toISOString(), endsAt: new Date(now + 3_600_000).toISOString(),
        limits: { perUser: 1 },
        workers: { deployment: `${release}-worker`, minReplicas: 1, maxReplicas: 3 },
      },
    }));
    await waitFor('FlashSale phase Active', 180_000, async () => {
      const fs = await kubectlJson(['get', 'flashsale', 'drop', '-n', ns]);
      return fs.status?.phase === 'Active' ? true : undefined;
    }, async () => JSON.stringify((await kubectlJson(['get', 'flashsale', 'drop', '-n', ns])).status, null, 2));
    const port = await nodePortOf(ns, `${release}-api`);
    const tally = await sendOrders(`http://${cluster.nodeIp}:${port}`, productId, 300, 20);
    log(`orders: ${JSON.stringify(tally)}`);
    expect(tally.accepted).toBe(stock);
    expect(tally.statuses[409]).toBe(300 - stock);
    const final = await waitFor('every accepted order confirmed in PostgreSQL', 180_000, async () => {
      const s = await confirmedInPostgres(pgTlsUrl(database), productId);
      return s.confirmed === stock ? s : undefined;
    });
    expect(final).toEqual({ confirmed: stock, rejected: 0, stock: 0 });
  });

  it('Redis: the API and operator pods are connected as their ACL users on the TLS port only', async () => {
    const redis = new Redis({ host: '127.0.0.1', port: state.ports.redis, lazyConnect: true });
    await redis.connect();
    try {
      const clients = String(await redis.client('LIST')).trim().split('\n').map((line) =>
        Object.fromEntries(line.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])));
      // The pods' connections come from the node's addresses (SNAT), named `<role>@<pod name>`:
      // pick this release's by its pods' names, since connections of earlier files' pods whose
      // node went away abruptly linger here until Redis' keepalive probes them.
      const pods = new Set((await kubectlJson(['get', 'pods', '-n', ns])).items.map((p: { metadata: { name: string } }) => p.metadata.name));
      const fromNode = clients.filter((c) => /^10\.21[45]\./.test(c.addr ?? ''));
      const ours = fromNode.filter((c) => pods.has(c.name?.slice(c.name.indexOf('@') + 1)));
      const byUser = (u: string) => ours.filter((c) => c.user === u);
      expect(byUser('fluxgate-api').length, JSON.stringify(fromNode)).toBeGreaterThan(0);
      expect(byUser('fluxgate-operator').length, JSON.stringify(fromNode)).toBeGreaterThan(0);
      expect([...new Set(ours.map((c) => c.user))].sort()).toEqual(['fluxgate-api', 'fluxgate-operator']);
      expect([...new Set(ours.map((c) => c.laddr?.split(':').pop()))]).toEqual([String(state.ports.redisTls)]);
    } finally {
      redis.disconnect();
    }
  });

  it('PostgreSQL: the pods are connected as the TLS-only role, with TLS', async () => {
    const admin = adminPg();
    await admin.connect();
    try {
      const rows = await waitFor('a pod connection to the release database', 60_000, async () => {
        const r = await admin.query<{ usename: string; ssl: boolean; addr: string }>(
          'SELECT a.usename, s.ssl, host(a.client_addr) AS addr FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1', [database]);
        const fromNode = r.rows.filter((row) => /^10\.21[45]\./.test(row.addr ?? ''));
        return fromNode.length > 0 ? fromNode : undefined;
      });
      expect([...new Set(rows.map((r) => `${r.usename} ssl=${r.ssl}`))]).toEqual([`${PG_TLS_USER} ssl=true`]);
    } finally {
      await admin.end();
    }
  });

  it('Kafka: the pods dial only the SASL_SSL listener, as users that may do nothing but their ACLs', async () => {
    for (const component of ['api', 'worker', 'operator']) {
      const d = await kubectlJson(['get', 'deployment', `${release}-${component}`, '-n', ns]);
      const env = Object.fromEntries((d.spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value]));
      expect([env.KAFKA_BROKERS, env.KAFKA_TLS, env.KAFKA_SASL_USERNAME], component).toEqual([`${cluster.hostIp}:${state.ports.kafkaNodeSaslSsl}`, 'true', `fluxgate-${component}`]);
    }
    // The orders reached PostgreSQL (test above), so the worker's user read them: the group it may
    // READ (and nothing else) commits up to the end of this namespace's topic (commits trail the
    // writes to PostgreSQL, so wait for them).
    const admin = new Kafka({ clientId: 'fg-secured-check', brokers: [`127.0.0.1:${state.ports.kafka}`], logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const sum = (offsets: Array<{ offset: string }>) => offsets.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
      const end = sum(await admin.fetchTopicOffsets(`orders-${ns}`));
      expect(end).toBeGreaterThan(0); // the API's user produced the accepted orders (a message may carry several)
      const committed = await waitFor('the worker group committed every order', 120_000, async () => {
        const [group] = await admin.fetchOffsets({ groupId: `worker-${ns}`, topics: [`orders-${ns}`] });
        const n = sum(group!.partitions);
        return n === end ? n : undefined;
      });
      expect(committed).toBe(end);
    } finally {
      await admin.disconnect();
    }
  });
});
