// The Redis client every Flux-Gate process uses: ioredis with Flux-Gate's Lua scripts defined
// (EVALSHA, falling back to EVAL once after a Redis restart flushed the script cache).
import { readFileSync } from 'node:fs';
import { Redis, type RedisOptions } from 'ioredis';

const SCRIPTS = {
  fgReserve: { file: 'reserve.lua', keys: 7 },
  fgRelease: { file: 'release.lua', keys: 5 },
  fgConfirm: { file: 'confirm.lua', keys: 1 },
  fgSeed: { file: 'seed.lua', keys: 3 },
  fgOpenGate: { file: 'open-gate.lua', keys: 2 },
} as const;

type Arg = string | number;

/** The raw script commands; call them through reserve.ts / sale.ts, which type their answers. */
export interface ScriptCommands {
  fgReserve(...keysThenArgs: Arg[]): Promise<unknown[]>;
  fgRelease(...keysThenArgs: Arg[]): Promise<unknown[]>;
  fgConfirm(...keysThenArgs: Arg[]): Promise<number>;
  fgSeed(...keysThenArgs: Arg[]): Promise<number>;
  fgOpenGate(...keysThenArgs: Arg[]): Promise<number>;
}

export type FluxRedis = Redis & ScriptCommands;

export function loadScript(file: string): string {
  return readFileSync(new URL(`./lua/${file}`, import.meta.url), 'utf8');
}

/** Defines Flux-Gate's scripts on an existing client (idempotent). */
export function withScripts(redis: Redis): FluxRedis {
  for (const [name, s] of Object.entries(SCRIPTS)) {
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: s.keys, lua: loadScript(s.file) });
  }
  return redis as FluxRedis;
}

export interface RedisClientOptions {
  /** Fail a command that gets no answer in this time (the hot path must not hang on a dead link). */
  commandTimeoutMs?: number;
  connectionName?: string;
}

/**
 * A client that fails fast while disconnected (no offline queue once connected: callers answer 503
 * and clients retry) and reconnects by itself. Call `await redis.connect()` before use.
 */
export function createRedis(url: string, opts: RedisClientOptions = {}): FluxRedis {
  const options: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    commandTimeout: opts.commandTimeoutMs,
    connectionName: opts.connectionName,
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2_000),
  };
  const redis = new Redis(url, options);
  // Queue commands only until the first connection; afterwards a disconnected client fails fast.
  redis.once('ready', () => {
    redis.options.enableOfflineQueue = false;
  });
  return withScripts(redis);
}
