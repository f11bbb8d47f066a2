// Apache Kafka in KRaft mode (one node, broker + controller) from Maven Central jars.
// The log is formatted once, on the first start; restarts keep every topic and offset.
// Besides PLAINTEXT (no authentication; its ANONYMOUS principal is a super user) the broker has a
// SASL_SSL listener (SCRAM-SHA-256/512 and PLAIN users, one per component) and an MTLS listener
// (client certificate required), both with the stack's certificate and ACLs (core/kafka/acls.ts).
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { componentAcls } from '../../../core/kafka/acls.js';
import type { KafkaComponent } from '../../../core/kafka/client.js';
import { ensureStackPki, pkiDir } from '../certs.js';
import { ensureKafkaLibs, javaBinary, kafkaLibsDir, run, type Log } from '../install.js';
import { cmdline, spawnDetached, tcpOpen } from '../proc.js';
import { uplinkHostIp } from '../node/net.js';
import type { StackState } from '../state.js';
import type { ServiceDriver } from './types.js';

const TEMPLATE = fileURLToPath(new URL('../kafka/server.properties', import.meta.url));
const LOG4J2 = fileURLToPath(new URL('../kafka/log4j2.properties', import.meta.url));

const kafkaDir = (state: StackState) => join(state.stateDir, 'kafka');
const configFile = (state: StackState) => join(kafkaDir(state), 'server.properties');
const dataDir = (state: StackState) => join(kafkaDir(state), 'data');

function java(): string {
  const bin = javaBinary();
  if (!bin) throw new Error('java not found (install openjdk-17-jre-headless or set JAVA_HOME)');
  return bin;
}

const keystoreFile = (state: StackState) => join(kafkaDir(state), 'server-keystore.pem');

export const KAFKA_COMPONENTS: readonly KafkaComponent[] = ['api', 'worker', 'operator'];
/** The stack's default names the ACLs are granted on (Flux-Gate's ORDERS_TOPIC and KAFKA_GROUP_ID defaults). */
export const STACK_ACL_TOPIC = 'orders';
export const STACK_ACL_GROUP = 'flux-gate-worker';

export interface KafkaUser {
  username: string;
  password: string;
}

/**
 * The SASL user of each component: same name and password for SCRAM-SHA-256, SCRAM-SHA-512 and
 * PLAIN. The password derives from the stack's cluster id: stable across restarts, unique per stack.
 */
export function stackKafkaUsers(state: StackState): Record<KafkaComponent, KafkaUser> {
  const user = (c: KafkaComponent) => ({
    username: `fluxgate-${c}`,
    password: createHash('sha256').update(`${state.kafka.clusterId}/fluxgate-${c}`).digest('hex').slice(0, 32),
  });
  return { api: user('api'), worker: user('worker'), operator: user('operator') };
}

/** Pure: fills the template's placeholders (prepare() creates the files it names). */
export function renderServerProperties(template: string, state: StackState): string {
  const plainUsers = () => Object.values(stackKafkaUsers(state)).map((u) => `user_${u.username}="${u.password}"`).join(' ');
  return template
    .replaceAll('@PORT@', String(state.ports.kafka))
    .replaceAll('@CONTROLLER_PORT@', String(state.ports.kafkaController))
    .replaceAll('@NODE_PORT@', String(state.ports.kafkaNode))
    .replaceAll('@SASL_SSL_PORT@', String(state.ports.kafkaSaslSsl))
    .replaceAll('@MTLS_PORT@', String(state.ports.kafkaMtls))
    .replaceAll('@NODE_SASL_SSL_PORT@', String(state.ports.kafkaNodeSaslSsl))
    .replaceAll('@NODE_HOST@', uplinkHostIp(state.nodeNet))
    .replaceAll('@KEYSTORE@', keystoreFile(state))
    .replaceAll('@TRUSTSTORE@', join(pkiDir(state), 'ca.crt'))
    .replaceAll('@PLAIN_USERS@', plainUsers)
    .replaceAll('@DATA_DIR@', dataDir(state));
}

/** Kafka's PEM key store: the private key and the certificate in one file, readable by the owner only. */
function writeKeystore(state: StackState): void {
  const { server } = ensureStackPki(state);
  writeFileSync(keystoreFile(state), readFileSync(server.key, 'utf8') + readFileSync(server.cert, 'utf8'), { mode: 0o600 });
  chmodSync(keystoreFile(state), 0o600);
}

const scramSpec = (mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512', u: KafkaUser) => `${mechanism}=[name=${u.username},password=${u.password}]`;

/** True when `user` can log in with `mechanism` on the SASL_SSL listener. */
async function canLogIn(state: StackState, mechanism: 'scram-sha-256' | 'scram-sha-512', user: KafkaUser): Promise<boolean> {
  const admin = new Kafka({
    clientId: 'flux-gate-stack-scram-check',
    brokers: [`127.0.0.1:${state.ports.kafkaSaslSsl}`],
    ssl: { ca: [readFileSync(ensureStackPki(state).caCert, 'utf8')] },
    sasl: { mechanism, ...user } as SASLOptions,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5000,
    retry: { retries: 0 },
  }).admin();
  try {
    await admin.connect();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/**
 * SCRAM credentials of stacks formatted before SASL existed (new stacks get them at format time):
 * kafka-configs over PLAINTEXT for each user and mechanism that cannot log in yet. One mechanism
 * per call: the controller refuses a request that names a user twice ("cannot be altered twice").
 */
async function ensureScramUsers(state: StackState, log: Log): Promise<void> {
  for (const user of Object.values(stackKafkaUsers(state))) {
    for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
      if (await canLogIn(state, mechanism.toLowerCase() as 'scram-sha-256' | 'scram-sha-512', user)) continue;
      log(`kafka: adding ${mechanism} credentials of ${user.username}`);
      await run(
        java(),
        ['-cp', `${kafkaLibsDir(state.cacheDir, state.kafka.version)}/*`, '-Dlog4j2.configurationFile=' + LOG4J2, 'kafka.admin.ConfigCommand',
          '--bootstrap-server', `127.0.0.1:${state.ports.kafka}`, '--alter', '--entity-type', 'users', '--entity-name', user.username,
          '--add-config', `${mechanism}=[password=${user.password}]`],
        join(state.stateDir, 'kafka.log'),
      );
    }
  }
}

/** The ACLs of each component's user on the default topic and group (createAcls is idempotent). */
async function ensureStackAcls(state: StackState): Promise<void> {
  const users = stackKafkaUsers(state);
  const admin = new Kafka({ clientId: 'flux-gate-stack-acls', brokers: [`127.0.0.1:${state.ports.kafka}`], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createAcls({
      acl: componentAcls({
        ordersTopic: STACK_ACL_TOPIC,
        groupId: STACK_ACL_GROUP,
        users: { api: users.api.username, worker: users.worker.username, operator: users.operator.username },
      }),
    });
  } finally {
    await admin.disconnect();
  }
}

export const kafkaDriver: ServiceDriver = {
  name: 'kafka',
  port: (state) => state.ports.kafka,
  markers: (state) => ['kafka.Kafka', configFile(state)],
  async prepare({ state, log }) {
    await ensureKafkaLibs(state.cacheDir, state.kafka.version, log);
    mkdirSync(dataDir(state), { recursive: true });
    writeKeystore(state);
    writeFileSync(configFile(state), renderServerProperties(readFileSync(TEMPLATE, 'utf8'), state));
    if (existsSync(join(dataDir(state), 'meta.properties'))) return;
    log(`formatting Kafka ${state.kafka.version} storage in ${dataDir(state)}`);
    // KRaft keeps SCRAM credentials in the metadata log: --add-scram writes them with the format,
    // so a new stack's users can log in from the broker's first second.
    const scram = Object.values(stackKafkaUsers(state)).flatMap((u) => ['--add-scram', scramSpec('SCRAM-SHA-256', u), '--add-scram', scramSpec('SCRAM-SHA-512', u)]);
    // `--cluster-id=<id>`, not `-t <id>`: a base64url id may start with '-' and would be read as an option.
    await run(
      java(),
      ['-cp', `${kafkaLibsDir(state.cacheDir, state.kafka.version)}/*`, '-Dlog4j2.configurationFile=' + LOG4J2,
        'kafka.tools.StorageTool', 'format', `--cluster-id=${state.kafka.clusterId}`, '-c', configFile(state), ...scram],
      join(state.stateDir, 'kafka.log'),
    );
  },
  spawn({ state }, logFile) {
    const jit = kafkaJitFlags(brokerJit(state));
    keepBrokerJit(state, jit);
    return spawnDetached(
      java(),
      [
        '-Xms128m', '-Xmx768m', '-XX:+UseSerialGC',
        ...jit,
        '-Djava.awt.headless=true',
        `-Dlog4j2.configurationFile=${LOG4J2}`,
        `-Dkafka.logs.dir=${kafkaDir(state)}`,
        '-cp', `${kafkaLibsDir(state.cacheDir, state.kafka.version)}/*`,
        'kafka.Kafka', configFile(state),
      ],
      logFile,
      { cwd: kafkaDir(state) },
    );
  },
  async probe({ state }) {
    // The client port opens only once the broker is unfenced; then ask it something real.
    if (!(await tcpOpen(state.ports.kafka))) throw new Error(`port ${state.ports.kafka} not open yet`);
    const admin = new Kafka({
      clientId: 'flux-gate-stack-probe',
      brokers: [`127.0.0.1:${state.ports.kafka}`],
      logLevel: logLevel.NOTHING,
      connectionTimeout: 2000,
      retry: { retries: 0 },
    }).admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length === 0) throw new Error('describeCluster returned no broker');
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  },
  async afterReady({ state, log }) {
    // A broker started by older stack code has no SASL_SSL listener: say how to get one, break nothing.
    if (!(await tcpOpen(state.ports.kafkaSaslSsl))) {
      log(`kafka: no SASL_SSL listener on ${state.ports.kafkaSaslSsl} (started before it existed); restart it: npm run stack:down -- --only=kafka && npm run stack:up`);
      return;
    }
    await ensureScramUsers(state, log);
    await ensureStackAcls(state);
  },
  url: (state) => `127.0.0.1:${state.ports.kafka}`,
  // SIGTERM = controlled shutdown: the broker flushes and closes its log cleanly.
  stopSignal: 'SIGTERM',
  stopTimeoutMs: 60_000,
  readyTimeoutMs: 120_000,
};

/**
 * The broker's JIT, from FLUXGATE_KAFKA_JIT when it starts. c1 (the default): C1 only, a faster
 * start on 2 cores, plenty for tests. c2: the JVM's full tiered compilation, as a production
 * broker runs; npm run bench asks for it (measured: 25 against 34–38 µs of broker CPU per
 * accepted order once warm), and pays the C2 compilations during its warm-up.
 */
const C1_ONLY = '-XX:TieredStopAtLevel=1';

export function kafkaJitFlags(env: NodeJS.ProcessEnv = process.env): string[] {
  const jit = env.FLUXGATE_KAFKA_JIT ?? 'c1';
  if (jit === 'c1') return [C1_ONLY];
  if (jit === 'c2') return [];
  throw new Error(`FLUXGATE_KAFKA_JIT must be "c1" (C1 only: fast start, the default) or "c2" (full tiered compilation, for benchmarks), got ${JSON.stringify(jit)}`);
}

/** Where the stack keeps the JIT its broker was last started with, until `stack:down`. */
const jitFile = (state: Pick<StackState, 'stateDir'>) => join(state.stateDir, 'kafka.jit');

/**
 * The JIT of a broker about to start: FLUXGATE_KAFKA_JIT when set, else the one it was last
 * started with in this stack (so a test that restarts the broker, e2e/api/kafka-outage.test.ts,
 * does not turn a bench's C2 broker into a C1 one under the bench's feet), else C1.
 */
export function brokerJit(state: Pick<StackState, 'stateDir'>, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  if (env.FLUXGATE_KAFKA_JIT !== undefined) return { FLUXGATE_KAFKA_JIT: env.FLUXGATE_KAFKA_JIT };
  const kept = existsSync(jitFile(state)) ? readFileSync(jitFile(state), 'utf8').trim() : '';
  return kept === 'c2' ? { FLUXGATE_KAFKA_JIT: 'c2' } : {};
}

/** Records the JIT a broker is started with (see brokerJit). */
function keepBrokerJit(state: Pick<StackState, 'stateDir'>, flags: string[]): void {
  writeFileSync(jitFile(state), flags.includes(C1_ONLY) ? 'c1\n' : 'c2\n');
}

/** `stack:down`: the next start picks its JIT afresh. */
export function forgetBrokerJit(state: Pick<StackState, 'stateDir'>): void {
  rmSync(jitFile(state), { force: true });
}

/** The JIT a running broker was started with (from its command line), for the bench's report. */
export function kafkaJitOf(pid: number): 'c1' | 'c2' | undefined {
  const cmd = cmdline(pid);
  if (cmd === '') return undefined;
  return cmd.split(' ').includes(C1_ONLY) ? 'c1' : 'c2';
}
