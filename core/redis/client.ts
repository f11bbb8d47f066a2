// The Redis client every Flux-Gate process uses: ioredis with Flux-Gate's Lua scripts defined
// (EVALSHA, falling back to EVAL once after a Redis restart flushed the script cache), for a single
// Redis, a Sentinel-managed master, or a Redis Cluster (every script touches one slot: keys.ts).
import { readFileSync } from 'node:fs';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ConfigError } from '../config/env.js';

const SCRIPTS = {
  fgReserve: { file: 'reserve.lua', keys: 8 },
  fgRelease: { file: 'release.lua', keys: 7 },
  fgConfirm: { file: 'confirm.lua', keys: 1 },
  fgSeed: { file: 'seed.lua', keys: 3 },
  fgOpenGate: { file: 'open-gate.lua', keys: 2 },
  fgNodeRunId: { file: 'node-run-id.lua', keys: 1 },
  fgQueueJoin: { file: 'queue-join.lua', keys: 3 },
  fgQueuePoll: { file: 'queue-poll.lua', keys: 1 },
  fgQueueAdmit: { file: 'queue-admit.lua', keys: 3 },
  fgQueueSweep: { file: 'queue-sweep.lua', keys: 2 },
} as const;

type Arg = string | number;

/** The raw script commands; call them through reserve.ts / sale.ts, which type their answers. */
export interface ScriptCommands {
  fgReserve(...keysThenArgs: Arg[]): Promise<unknown[]>;
  fgRelease(...keysThenArgs: Arg[]): Promise<unknown[]>;
  fgConfirm(...keysThenArgs: Arg[]): Promise<number>;
  fgSeed(...keysThenArgs: Arg[]): Promise<number>;
  fgOpenGate(...keysThenArgs: Arg[]): Promise<number>;
  fgNodeRunId(...keysThenArgs: Arg[]): Promise<string>;
  fgQueueJoin(...keysThenArgs: Arg[]): Promise<unknown[]>;
  fgQueuePoll(...keysThenArgs: Arg[]): Promise<unknown[]>;
  fgQueueAdmit(...keysThenArgs: Arg[]): Promise<unknown[]>;
  fgQueueSweep(...keysThenArgs: Arg[]): Promise<number>;
}

/** A single/Sentinel client (Redis) or a Cluster client: both speak the same commands and scripts. */
export type RedisClient = Redis | Cluster;
export type FluxRedis = RedisClient & ScriptCommands;

export function loadScript(file: string): string {
  return readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');
}

/** Defines Flux-Gate's scripts on an existing client (idempotent). */
export function withScripts(redis: RedisClient): FluxRedis {
  for (const [name, s] of Object.entries(SCRIPTS)) {
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: s.keys, lua: loadScript(s.file) });
  }
  return redis as FluxRedis;
}

/** Where Redis is: exactly one of the three deployment shapes. */
export type RedisTarget =
  | { mode: 'single'; url: string; password?: string; tls?: boolean }
  | { mode: 'sentinel'; sentinels: string[]; masterName: string; password?: string; tls?: boolean }
  | { mode: 'cluster'; nodes: string[]; password?: string; tls?: boolean };

/** The connection variables (core/config/variables.ts) as loadConfig returns them. */
export interface RedisConnectionConfig {
  REDIS_URL?: string;
  REDIS_SENTINELS?: string[];
  REDIS_SENTINEL_MASTER?: string;
  REDIS_CLUSTER_NODES?: string[];
  REDIS_PASSWORD?: string;
  REDIS_TLS?: boolean;
}

/** loadConfig already checked that exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES is set. */
export function redisTargetFromConfig(c: RedisConnectionConfig): RedisTarget {
  const common = { password: c.REDIS_PASSWORD, tls: c.REDIS_TLS ?? false };
  const given = [c.REDIS_URL && 'REDIS_URL', c.REDIS_SENTINELS && 'REDIS_SENTINELS', c.REDIS_CLUSTER_NODES && 'REDIS_CLUSTER_NODES'].filter(Boolean);
  if (given.length !== 1)
    throw new ConfigError([`set exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES, got ${given.length ? given.join(' and ') : 'none'}`]);
  if (c.REDIS_SENTINELS) {
    if (!c.REDIS_SENTINEL_MASTER) throw new ConfigError(['REDIS_SENTINEL_MASTER is required with REDIS_SENTINELS (the master name the Sentinels monitor)']);
    return { mode: 'sentinel', sentinels: c.REDIS_SENTINELS, masterName: c.REDIS_SENTINEL_MASTER, ...common };
  }
  if (c.REDIS_CLUSTER_NODES) return { mode: 'cluster', nodes: c.REDIS_CLUSTER_NODES, ...common };
  return { mode: 'single', url: c.REDIS_URL!, ...common };
}

/** For logs: where the client connects, never the password. */
export function describeRedisTarget(t: RedisTarget): string {
  if (t.mode === 'single') {
    const u = new URL(t.url);
    u.username = '';
    u.password = '';
    return `single ${u.toString()}`;
  }
  if (t.mode === 'sentinel') return `sentinel master "${t.masterName}" via ${t.sentinels.join(',')}`;
  return `cluster via ${t.nodes.join(',')}`;
}

export interface RedisClientOptions {
  /** Fail a command that gets no answer in this time (the hot path must not hang on a dead link). */
  commandTimeoutMs?: number;
  connectionName?: string;
  /** Default true. Off for a connection that runs WATCH/MULTI (the operator's transactions). */
  autoPipelining?: boolean;
}

function hostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i).replace(/^\[(.*)\]$/, '$1'), port: Number(s.slice(i + 1)) };
}

/**
 * A client that fails fast while disconnected (no offline queue once connected: callers answer 503
 * and clients retry) and reconnects by itself; Sentinel mode asks the Sentinels for the master at
 * every (re)connection, so it follows failovers. Call `await redis.connect()` before use.
 * A string is a single-instance URL.
 */
export function createRedis(target: RedisTarget | string, opts: RedisClientOptions = {}): FluxRedis {
  const t: RedisTarget = typeof target === 'string' ? { mode: 'single', url: target } : target;
  const perConnection: RedisOptions = {
    maxRetriesPerRequest: 1,
    commandTimeout: opts.commandTimeoutMs,
    connectionName: opts.connectionName,
    password: t.password,
    ...(t.tls ? { tls: {} } : {}),
    // A demoted master (failover while we were connected) refuses writes: reconnect, which asks the
    // Sentinels (or the cluster) again. The failed command is not resent; its caller answers 503.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
  const common = { lazyConnect: true, enableOfflineQueue: true, enableAutoPipelining: opts.autoPipelining ?? true };
  const retry = (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2_000);

  let redis: RedisClient;
  if (t.mode === 'cluster') {
    const options: ClusterOptions = {
      ...common,
      redisOptions: perConnection,
      clusterRetryStrategy: retry,
      // Scripts and reads go to the master of the slot: a replica may be behind.
      scaleReads: 'master',
    };
    redis = new Cluster(t.nodes.map(hostPort), options);
  } else if (t.mode === 'sentinel') {
    redis = new Redis({
      ...perConnection,
      ...common,
      retryStrategy: retry,
      sentinels: t.sentinels.map(hostPort),
      name: t.masterName,
      role: 'master',
      sentinelPassword: t.password,
      sentinelRetryStrategy: retry,
      // Subscribes to +switch-master: drops the old master at once instead of waiting for an error.
      failoverDetector: true,
      ...(t.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    });
  } else {
    // A password or TLS in the URL (rediss://) wins over REDIS_PASSWORD / REDIS_TLS.
    redis = new Redis(t.url, { ...perConnection, ...common, retryStrategy: retry });
  }
  // Queue commands only until the first connection; afterwards a disconnected client fails fast.
  redis.once('ready', () => {
    redis.options.enableOfflineQueue = false;
  });
  return withScripts(redis);
}

/** Every key of a Cluster lives on one of its masters; a single/Sentinel client is its own only node. */
export function masterNodes(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}
