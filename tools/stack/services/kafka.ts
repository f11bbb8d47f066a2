// Apache Kafka in KRaft mode (one node, broker + controller) from Maven Central jars.
// The log is formatted once, on the first start; restarts keep every topic and offset.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { ensureKafkaLibs, javaBinary, kafkaLibsDir, run } from '../install.js';
import { spawnDetached, tcpOpen } from '../proc.js';
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

export function renderServerProperties(template: string, state: StackState): string {
  return template
    .replaceAll('@PORT@', String(state.ports.kafka))
    .replaceAll('@CONTROLLER_PORT@', String(state.ports.kafkaController))
    .replaceAll('@NODE_PORT@', String(state.ports.kafkaNode))
    .replaceAll('@NODE_HOST@', uplinkHostIp(state.nodeNet))
    .replaceAll('@DATA_DIR@', dataDir(state));
}

export const kafkaDriver: ServiceDriver = {
  name: 'kafka',
  port: (state) => state.ports.kafka,
  markers: (state) => ['kafka.Kafka', configFile(state)],
  async prepare({ state, log }) {
    await ensureKafkaLibs(state.cacheDir, state.kafka.version, log);
    mkdirSync(dataDir(state), { recursive: true });
    writeFileSync(configFile(state), renderServerProperties(readFileSync(TEMPLATE, 'utf8'), state));
    if (existsSync(join(dataDir(state), 'meta.properties'))) return;
    log(`formatting Kafka ${state.kafka.version} storage in ${dataDir(state)}`);
    // `--cluster-id=<id>`, not `-t <id>`: a base64url id may start with '-' and would be read as an option.
    await run(
      java(),
      ['-cp', `${kafkaLibsDir(state.cacheDir, state.kafka.version)}/*`, '-Dlog4j2.configurationFile=' + LOG4J2,
        'kafka.tools.StorageTool', 'format', `--cluster-id=${state.kafka.clusterId}`, '-c', configFile(state)],
      join(state.stateDir, 'kafka.log'),
    );
  },
  spawn({ state }, logFile) {
    return spawnDetached(
      java(),
      [
        '-Xms128m', '-Xmx768m', '-XX:+UseSerialGC',
        // C1 only: a much faster start on 2 cores; plenty for tests (not for benchmarks of Kafka itself).
        '-XX:TieredStopAtLevel=1',
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
  url: (state) => `127.0.0.1:${state.ports.kafka}`,
  // SIGTERM = controlled shutdown: the broker flushes and closes its log cleanly.
  stopSignal: 'SIGTERM',
  stopTimeoutMs: 60_000,
  readyTimeoutMs: 120_000,
};
