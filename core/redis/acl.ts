// The Redis ACL each Flux-Gate process needs: exactly the commands it (and ioredis for it) sends,
// the commands its Lua scripts call, and the key patterns keys.ts builds; nothing else.
// Invariant: a process running as its user never gets NOPERM for anything it does, and gets
// NOPERM for every command or key outside this list (e2e/redis/secure.test.ts proves both on a
// real server). Redis checks the commands and keys a script calls against the caller's ACL too,
// so the script commands are granted to whoever runs the scripts.
import { saleKeys } from './keys.js';

export type AclProcess = 'api' | 'operator';

/** Every key Flux-Gate touches: the sale's keys (hash tag {productId}) and the accepted-order records. */
export const ACL_KEY_PATTERNS = [saleKeys('*').pattern, 'fg:order:{*}:*'] as const;

/**
 * What ioredis sends on each connection: PING (/readyz), INFO (ready check; Sentinel mode's role
 * check), CLIENT SETNAME, SELECT (a db in REDIS_URL), QUIT, CLUSTER SLOTS (maps a Cluster).
 * CLIENT SETINFO is not sent (createRedis sets disableClientInfo; Redis < 7.2 does not know it).
 */
const CONNECTION = ['ping', 'info', 'client|setname', 'select', 'quit', 'cluster|slots'];
/** Scripts (client.ts: EVALSHA, EVAL after a restart flushed the cache) and what the Lua files call. */
const SCRIPTS = [
  'evalsha', 'eval',
  'get', 'set', 'del', 'exists', 'incrby', 'decrby', 'time',
  'hget', 'hmget', 'hset', 'hsetnx', 'hdel', 'hincrby',
  'zadd', 'zscore', 'zrangebyscore', 'zrevrangebyscore', 'zrevrange', 'zcount', 'zremrangebyscore',
];

const COMMANDS: Record<AclProcess, string[]> = {
  // reserve.ts (GET of idempotency/order records; MGET of the keys under a sale's sold-out flag),
  // sale.ts readSaleState (MULTI GET HGETALL GET EXEC), durability.ts (WAIT).
  api: ['multi', 'exec', 'hgetall', 'wait', 'mget'],
  // sale.ts configure/raise (WATCH HGET EXISTS MULTI HSET INCRBY EXEC UNWATCH), readSaleState,
  // deleteSaleKeys (SCAN UNLINK), in-flight.ts (TIME SCAN MGET).
  operator: ['watch', 'unwatch', 'multi', 'exec', 'hget', 'hgetall', 'scan', 'unlink', 'mget'],
};

/** The commands granted to a process's user, sorted, without duplicates. */
export function aclCommands(process: AclProcess): string[] {
  return [...new Set([...CONNECTION, ...SCRIPTS, ...COMMANDS[process]])].sort();
}

/**
 * The ACL rules (after `ACL SETUSER <name>` or `user <name>` in redis.conf / an ACL file), without
 * the password rule: `resetkeys resetchannels -@all +cmd... ~pattern...`. No pub/sub channels.
 */
export function aclRules(process: AclProcess): string {
  return ['resetkeys', 'resetchannels', '-@all', ...aclCommands(process).map((c) => `+${c}`), ...ACL_KEY_PATTERNS.map((p) => `~${p}`)].join(' ');
}

/**
 * The rules of a Sentinel user for Flux-Gate (a `user` line in sentinel.conf): ioredis asks for the
 * master's address and the other Sentinels, and subscribes to +switch-master (failover detector).
 */
export const SENTINEL_ACL_RULES =
  'resetkeys resetchannels -@all +sentinel|get-master-addr-by-name +sentinel|sentinels +subscribe &+switch-master';
