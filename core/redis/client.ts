// The Redis client every Flux-Gate process uses: ioredis with Flux-Gate's Lua scripts defined
// (EVALSHA, falling back to EVAL once after a Redis restart flushed the script cache), for a single
// Redis, a Sentinel-managed master, or a Redis Cluster (every script touches one slot: keys.ts).
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { createSecureContext } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { ConfigError } from '../config/env.js';

const SCRIPTS: Record<string, { file: string; keys: number | undefined }> = {
  // numkeys first too: a batch of orders of one sale (reserve.ts reserveMany).
  fgReserve: { file: 'reserve.lua', keys: undefined },
  fgRelease: { file: 'release.lua', keys: 7 },
  // Variable key count: the caller passes numkeys first (confirm.lua settles a batch of orders).
  fgConfirm: { file: 'confirm.lua', keys: undefined },
  fgSeed: { file: 'seed.lua', keys: 3 },
  fgOpenGate: { file: 'open-gate.lua', keys: 2 },
  fgSaleNode: { file: 'sale-node.lua', keys: 1 },
  fgQueueJoin: { file: 'queue-join.lua', keys: 3 },
  fgQueuePoll: { file: 'queue-poll.lua', keys: 1 },
  fgQueueAdmit: { file: 'queue-admit.lua', keys: 6 },
  fgQueueSweep: { file: 'queue-sweep.lua', keys: 4 },
};

type Arg = string | number;

/** The raw script commands; call them through reserve.ts / sale.ts, which type their answers. */
export interface ScriptCommands {
  /** numkeys, the keys, then the arguments. */
  fgReserve(...numKeysKeysThenArgs: Arg[]): Promise<unknown[]>;
  fgRelease(...keysThenArgs: Arg[]): Promise<unknown[]>;
  /** numkeys, the keys, then the arguments. */
  fgConfirm(...numKeysKeysThenArgs: Arg[]): Promise<number>;
  fgSeed(...keysThenArgs: Arg[]): Promise<number>;
  fgOpenGate(...keysThenArgs: Arg[]): Promise<number>;
  fgSaleNode(...keysThenArgs: Arg[]): Promise<[string, number]>;
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

/** TLS to Redis (and the Sentinels): PEM contents read at start; absent fields = Node's defaults. */
export interface RedisTls {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
}

/** Credentials, sent as given (AUTH [username] password): never through a URL, so any character works. */
interface RedisAuth {
  username?: string;
  password?: string;
  /** Absent = plain TCP. */
  tls?: RedisTls;
}

/** Where Redis is: exactly one of the three deployment shapes. */
export type RedisTarget =
  | ({ mode: 'single'; url: string } & RedisAuth)
  | ({ mode: 'sentinel'; sentinels: string[]; masterName: string; sentinelAuth?: { username?: string; password?: string } } & RedisAuth)
  | ({ mode: 'cluster'; nodes: string[] } & RedisAuth);

/** The connection variables (core/config/variables.ts) as loadConfig returns them. */
export interface RedisConnectionConfig {
  REDIS_URL?: string;
  REDIS_SENTINELS?: string[];
  REDIS_SENTINEL_MASTER?: string;
  REDIS_CLUSTER_NODES?: string[];
  REDIS_USERNAME?: string;
  REDIS_PASSWORD?: string;
  REDIS_SENTINEL_USERNAME?: string;
  REDIS_SENTINEL_PASSWORD?: string;
  REDIS_TLS?: boolean;
  REDIS_TLS_CA_FILE?: string;
  REDIS_TLS_CERT_FILE?: string;
  REDIS_TLS_KEY_FILE?: string;
  REDIS_TLS_SERVERNAME?: string;
}

/**
 * loadConfig already checked each variable alone; this checks them together and reads the TLS
 * files, so that every mistake stops the process at start with the variables named (ConfigError).
 */
export function redisTargetFromConfig(c: RedisConnectionConfig): RedisTarget {
  const given = [c.REDIS_URL && 'REDIS_URL', c.REDIS_SENTINELS && 'REDIS_SENTINELS', c.REDIS_CLUSTER_NODES && 'REDIS_CLUSTER_NODES'].filter(Boolean);
  if (given.length !== 1)
    throw new ConfigError([`set exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES, got ${given.length ? given.join(' and ') : 'none'}`]);
  const problems: string[] = [];
  const urlHasPassword = c.REDIS_URL !== undefined && URL.canParse(c.REDIS_URL) && new URL(c.REDIS_URL).password !== '';
  if (c.REDIS_USERNAME && !c.REDIS_PASSWORD && !urlHasPassword) problems.push('REDIS_USERNAME is set without REDIS_PASSWORD (an ACL user logs in with both)');
  if (!c.REDIS_SENTINELS) {
    for (const n of ['REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_USERNAME', 'REDIS_SENTINEL_PASSWORD'] as const)
      if (c[n]) problems.push(`${n} is set but REDIS_SENTINELS is not (it is only used in Sentinel mode)`);
  } else {
    if (!c.REDIS_SENTINEL_MASTER) problems.push('REDIS_SENTINEL_MASTER is required with REDIS_SENTINELS (the master name the Sentinels monitor)');
    if (c.REDIS_SENTINEL_USERNAME && !c.REDIS_SENTINEL_PASSWORD) problems.push('REDIS_SENTINEL_USERNAME is set without REDIS_SENTINEL_PASSWORD');
  }
  const tlsOn = (c.REDIS_TLS ?? false) || (c.REDIS_URL?.startsWith('rediss:') ?? false);
  const tls = tlsOn ? readTlsFiles(c, problems) : undefined;
  if (!tlsOn)
    for (const n of TLS_VARS) if (c[n]) problems.push(`${n} is set but TLS is off: set REDIS_TLS=true${c.REDIS_URL ? ' or use a rediss:// REDIS_URL' : ''}`);
  if (problems.length) throw new ConfigError(problems);

  const common: RedisAuth = { username: c.REDIS_USERNAME, password: c.REDIS_PASSWORD, ...(tls ? { tls } : {}) };
  if (c.REDIS_SENTINELS) {
    // The Sentinels' own credentials; without them the data nodes' password is tried (older setups share one).
    const sentinelAuth = c.REDIS_SENTINEL_USERNAME || c.REDIS_SENTINEL_PASSWORD
      ? { username: c.REDIS_SENTINEL_USERNAME, password: c.REDIS_SENTINEL_PASSWORD }
      : { password: c.REDIS_PASSWORD };
    return { mode: 'sentinel', sentinels: c.REDIS_SENTINELS, masterName: c.REDIS_SENTINEL_MASTER!, sentinelAuth, ...common };
  }
  if (c.REDIS_CLUSTER_NODES) return { mode: 'cluster', nodes: c.REDIS_CLUSTER_NODES, ...common };
  return { mode: 'single', url: c.REDIS_URL!, ...common };
}

const TLS_VARS = ['REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE', 'REDIS_TLS_SERVERNAME'] as const;

function readPem(name: string, file: string | undefined, marker: RegExp, what: string, problems: string[]): string | undefined {
  if (!file) return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return undefined;
  }
  if (!marker.test(text)) {
    problems.push(`${name}: ${file} holds no PEM ${what}`);
    return undefined;
  }
  return text;
}

/** Reads and checks the PEM files; a certificate without its key, or a key that is not its, is refused here. */
function readTlsFiles(c: RedisConnectionConfig, problems: string[]): RedisTls {
  if (c.REDIS_TLS_CERT_FILE && !c.REDIS_TLS_KEY_FILE) problems.push('REDIS_TLS_CERT_FILE is set without REDIS_TLS_KEY_FILE (mutual TLS needs both)');
  if (c.REDIS_TLS_KEY_FILE && !c.REDIS_TLS_CERT_FILE) problems.push('REDIS_TLS_KEY_FILE is set without REDIS_TLS_CERT_FILE (mutual TLS needs both)');
  const before = problems.length;
  const tls: RedisTls = {
    ca: readPem('REDIS_TLS_CA_FILE', c.REDIS_TLS_CA_FILE, /-----BEGIN CERTIFICATE-----/, 'certificate', problems),
    cert: readPem('REDIS_TLS_CERT_FILE', c.REDIS_TLS_CERT_FILE, /-----BEGIN CERTIFICATE-----/, 'certificate', problems),
    key: readPem('REDIS_TLS_KEY_FILE', c.REDIS_TLS_KEY_FILE, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'private key', problems),
    servername: c.REDIS_TLS_SERVERNAME,
  };
  if (problems.length === before) {
    // Node parses them as a TLS connection would: a bad CA, or a key that does not match its certificate, fails now.
    try {
      createSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key });
    } catch (err) {
      const names = TLS_VARS.filter((n) => n !== 'REDIS_TLS_SERVERNAME' && c[n]).join(', ');
      problems.push(`${names}: Node refuses them (${(err as Error).message})`);
    }
  }
  return Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined)) as RedisTls;
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

const UNTRUSTED = new Set(['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_SIGNATURE_FAILURE']);

/**
 * A connection error as an operator needs it: what Node or Redis said, and which variable to check.
 * Why: "unable to get local issuer certificate" or "WRONGPASS" alone do not say what to fix.
 */
export function explainRedisError(err: Error & { code?: string }): string {
  const m = err.message;
  if (err.code && UNTRUSTED.has(err.code))
    return `TLS: the certificate of Redis is not signed by a CA the client trusts: check REDIS_TLS_CA_FILE (${err.code}: ${m})`;
  if (err.code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return `TLS: the certificate of Redis does not name the address dialled: set REDIS_TLS_SERVERNAME to a name it holds (${m})`;
  if (err.code === 'CERT_HAS_EXPIRED' || err.code === 'CERT_NOT_YET_VALID') return `TLS: the certificate of Redis is not valid now (${err.code}: ${m})`;
  if (/alert (certificate required|unknown ca|bad certificate)/.test(m))
    return `TLS: Redis refused the client certificate (or its absence): check REDIS_TLS_CERT_FILE / REDIS_TLS_KEY_FILE (${m})`;
  const badAuth = /WRONGPASS|invalid username-password|NOAUTH/.test(m);
  if (badAuth && m.startsWith('All sentinels are unreachable'))
    return `the Sentinels refused the credentials: check REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD (${m})`;
  if (badAuth) return `Redis refused the credentials: check REDIS_USERNAME / REDIS_PASSWORD (${m})`;
  if (m.startsWith('NOPERM')) return `the Redis ACL user may not do this: compare its rules with the README's "Redis ACL" (${m})`;
  return m;
}

/**
 * connect(), failing with why the connection broke, explained: ioredis itself rejects with
 * "Connection is closed." and reports the cause (TLS, WRONGPASS) only as an 'error' event.
 */
export async function connectRedis(redis: RedisClient): Promise<void> {
  let cause: Error | undefined;
  const keep = (err: Error) => (cause = err);
  redis.on('error', keep);
  try {
    await redis.connect();
  } catch (err) {
    throw new Error(explainRedisError(cause ?? (err as Error)), { cause: cause ?? err });
  } finally {
    redis.off('error', keep);
  }
}

export interface RedisClientOptions {
  /** Fail a command that gets no answer in this time (the hot path must not hang on a dead link). */
  commandTimeoutMs?: number;
  /**
   * The connection's role. Redis shows it as `<role>@<host name>` in CLIENT LIST (in a pod the
   * host name is the pod's name), so whoever reads CLIENT LIST at 3 a.m. sees which pod holds
   * which connection, and a stale one from a pod that is gone is told apart.
   */
  connectionName?: string;
  /** Default true. Off for a connection that runs WATCH/MULTI (the operator's transactions). */
  autoPipelining?: boolean;
}

/** `<role>@<host name>`: CLIENT SETNAME takes no spaces, and neither a role nor a host name has any. */
export function clientName(role: string, host = hostname()): string {
  return `${role}@${host}`;
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
    connectionName: opts.connectionName && clientName(opts.connectionName),
    // No CLIENT SETINFO: one command less for the ACL (core/redis/acl.ts), unknown before Redis 7.2.
    disableClientInfo: true,
    username: t.username,
    password: t.password,
    ...(t.tls ? { tls: { ...t.tls } } : {}),
    // A demoted master (failover while we were connected) refuses writes: reconnect, which asks the
    // Sentinels (or the cluster) again. The failed command is not resent; its caller answers 503.
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
  };
  // fgReserve and fgConfirm take their key count as first argument: auto-pipelining would route
  // them (and every command pipelined with them) by the slot of that number, not of their keys (a
  // cross-slot pipeline error on a Cluster). They are sent on their own, routed by their keys; each
  // call carries a batch already (reserves of one event-loop turn, confirms of one produce batch).
  const common = {
    lazyConnect: true,
    enableOfflineQueue: true,
    enableAutoPipelining: opts.autoPipelining ?? true,
    autoPipeliningIgnoredCommands: ['fgReserve', 'fgConfirm'],
  };
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
      sentinelUsername: t.sentinelAuth?.username,
      sentinelPassword: t.sentinelAuth?.password,
      sentinelRetryStrategy: retry,
      // Subscribes to +switch-master: drops the old master at once instead of waiting for an error.
      failoverDetector: true,
      // The master and replicas the Sentinels name are dialled with `tls` too; the Sentinels with the same settings.
      ...(t.tls ? { enableTLSForSentinelMode: true, sentinelTLS: { ...t.tls } } : {}),
    });
  } else {
    // A user or password in the URL wins over REDIS_USERNAME / REDIS_PASSWORD; rediss:// turns TLS on.
    redis = new Redis(t.url, { ...perConnection, ...common, retryStrategy: retry });
  }
  // Queue commands only until the first connection; afterwards a disconnected client fails fast.
  redis.once('ready', () => {
    redis.options.enableOfflineQueue = false;
    if (redis instanceof Redis) reconnectAfterAbortedConnect(redis, retry);
  });
  return withScripts(redis);
}

/**
 * Invariant: a connected single/Sentinel client ends (status `end`) only when our code closed it.
 * Why: ioredis gives up for good when a reconnect attempt is aborted under it: in Sentinel mode the
 * failover detector of the dead connection hears +switch-master while the client is still asking a
 * Sentinel where the master is; that attempt fails "Connection is closed." and is never retried,
 * so every later command fails the same way (chaos run, issue 7: an API answered 503 until the
 * end). Here the client connects again, with the usual backoff, until it is ready.
 */
function reconnectAfterAbortedConnect(redis: Redis, retry: (times: number) => number): void {
  let closedByUs = false;
  let attempts = 0;
  const disconnect = redis.disconnect.bind(redis);
  const quit = redis.quit.bind(redis) as (...args: unknown[]) => Promise<'OK'>;
  redis.disconnect = (reconnect = false) => {
    if (!reconnect) closedByUs = true;
    disconnect(reconnect);
  };
  redis.quit = ((...args: unknown[]) => {
    closedByUs = true;
    return quit(...args);
  }) as Redis['quit'];
  redis.on('ready', () => (attempts = 0));
  redis.on('end', () => {
    if (closedByUs) return;
    setTimeout(() => {
      if (!closedByUs && redis.status === 'end') redis.connect().catch(() => undefined); // failures: 'error' events, then 'end' again
    }, retry(++attempts)).unref();
  });
}

/** Every key of a Cluster lives on one of its masters; a single/Sentinel client is its own only node. */
export function masterNodes(redis: RedisClient): Redis[] {
  return redis instanceof Cluster ? redis.nodes('master') : [redis];
}
