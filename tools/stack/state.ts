// The persistent description of one stack: which ports it uses (chosen once, on the first `up`),
// where its data is, which Kafka version formatted its log. Stored as <state>/stack.json.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { StackPaths } from './paths.js';

// kafkaNode: the Kafka listener pods of the local node use (advertised on the node uplink, see node/net.ts).
// redisTls: the same Redis server's TLS listener (services/redis.ts).
// kafkaSaslSsl: TLS + SASL users with ACLs; kafkaMtls: TLS with a required client certificate (services/kafka.ts).
// kafkaNodeSaslSsl: kafkaSaslSsl's twin for pods, advertised on the node uplink like kafkaNode.
export const PORT_NAMES = ['redis', 'postgres', 'kafka', 'kafkaController', 'kafkaNode', 'etcd', 'etcdPeer', 'apiserver', 'redisTls', 'kafkaSaslSsl', 'kafkaMtls', 'kafkaNodeSaslSsl'] as const;
export type PortName = (typeof PORT_NAMES)[number];
export type Ports = Record<PortName, number>;

export interface StackState {
  stackId: string;
  repoRoot: string;
  cacheDir: string;
  stateDir: string;
  createdAt: string;
  ports: Ports;
  kafka: { version: string; clusterId: string };
  postgres: { baseDir: string };
  /** Index (1..250) of the stack's node networks, 10.214.<net>.0/30 uplink and 10.215.<net>.0/24 pods; unique per cache. */
  nodeNet: number;
}

export const DEFAULT_KAFKA_VERSION = '4.1.2';

// Below Linux's ephemeral range (32768+), so an outgoing connection never squats a stack port.
export const PORT_RANGE = { min: 20000, max: 32000 } as const;

export function stateFile(stateDir: string): string {
  return join(stateDir, 'stack.json');
}

export function readState(stateDir: string): StackState | undefined {
  const file = stateFile(stateDir);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StackState;
  } catch (err) {
    throw new Error(`cannot read stack state ${file}: ${(err as Error).message} (delete the folder ${stateDir} to start over)`);
  }
}

export function requireState(stateDir: string): StackState {
  const state = readState(stateDir);
  if (!state) throw new Error(`no local stack at ${stateDir}: run \`npm run stack:up\` first (with the same FLUXGATE_STACK_ID)`);
  return state;
}

export function writeState(state: StackState): void {
  mkdirSync(state.stateDir, { recursive: true });
  const file = stateFile(state.stateDir);
  writeFileSync(file + '.tmp', JSON.stringify(state, null, 2) + '\n');
  renameSync(file + '.tmp', file);
}

/** The state of every stack in this cache (unreadable ones skipped). */
function allStates(cacheDir: string): Partial<StackState>[] {
  const stacksDir = join(cacheDir, 'stacks');
  if (!existsSync(stacksDir)) return [];
  const states: Partial<StackState>[] = [];
  for (const id of readdirSync(stacksDir)) {
    try {
      states.push(JSON.parse(readFileSync(join(stacksDir, id, 'stack.json'), 'utf8')) as Partial<StackState>);
    } catch {
      /* no or unreadable state: nothing claimed */
    }
  }
  return states;
}

/** Ports recorded by every stack in this cache, so two stacks never pick the same one. */
export function claimedPorts(cacheDir: string): Set<number> {
  return new Set(allStates(cacheDir).flatMap((s) => Object.values(s.ports ?? {})));
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Picks `count` distinct free ports in PORT_RANGE avoiding `exclude`; `random` is injectable for tests. */
export async function pickPorts(
  count: number,
  exclude: Set<number>,
  isFree: (port: number) => Promise<boolean> = canBind,
  random: () => number = Math.random,
): Promise<number[]> {
  const picked: number[] = [];
  const span = PORT_RANGE.max - PORT_RANGE.min;
  for (let attempt = 0; picked.length < count; attempt++) {
    if (attempt > 2000) throw new Error(`could not find ${count} free ports in ${PORT_RANGE.min}-${PORT_RANGE.max}`);
    const port = PORT_RANGE.min + Math.floor(random() * span);
    if (exclude.has(port) || picked.includes(port)) continue;
    if (await isFree(port)) picked.push(port);
  }
  return picked;
}

/** Node network indexes recorded by every stack in this cache. */
export function claimedNodeNets(cacheDir: string): Set<number> {
  return new Set(allStates(cacheDir).flatMap((s) => (typeof s.nodeNet === 'number' ? [s.nodeNet] : [])));
}

/** The lowest free node network index: two stacks on one machine never share a bridge subnet. */
export function pickNodeNet(claimed: Set<number>): number {
  for (let net = 1; net <= 250; net++) if (!claimed.has(net)) return net;
  throw new Error('all 250 node network indexes are claimed by stacks in this cache (purge old stacks)');
}

/** Loads the stack's state, creating it (with fresh ports) on the first call; adds ports new code needs. */
export async function loadOrCreateState(paths: StackPaths, postgresBaseDir: string, kafkaVersion: string): Promise<StackState> {
  const existing = readState(paths.stateDir);
  if (existing) {
    const missing = PORT_NAMES.filter((name) => typeof existing.ports?.[name] !== 'number');
    if (missing.length > 0) {
      const ports = await pickPorts(missing.length, claimedPorts(paths.cacheDir));
      missing.forEach((name, i) => (existing.ports[name] = ports[i]!));
      writeState(existing);
    }
    if (typeof existing.nodeNet !== 'number') {
      existing.nodeNet = pickNodeNet(claimedNodeNets(paths.cacheDir));
      writeState(existing);
    }
    return existing;
  }
  const ports = await pickPorts(PORT_NAMES.length, claimedPorts(paths.cacheDir));
  const state: StackState = {
    stackId: paths.stackId,
    repoRoot: paths.repoRoot,
    cacheDir: paths.cacheDir,
    stateDir: paths.stateDir,
    createdAt: new Date().toISOString(),
    ports: Object.fromEntries(PORT_NAMES.map((name, i) => [name, ports[i]!])) as Ports,
    kafka: { version: kafkaVersion, clusterId: randomClusterId() },
    postgres: { baseDir: postgresBaseDir },
    nodeNet: pickNodeNet(claimedNodeNets(paths.cacheDir)),
  };
  writeState(state);
  return state;
}

function randomClusterId(): string {
  // Kafka cluster ids are 16 random bytes, base64url without padding (22 characters).
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('base64url');
}
