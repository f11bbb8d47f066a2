// Boot against dependencies that may be down for a while: connect, and on a transient failure
// (refused, reset, timed out, no leader) log it and try again with a capped backoff, for as long as
// it takes. Invariant: only bad configuration (invalid variables, refused credentials or
// certificates, missing ACLs) ends the process at boot; an outage of Redis or Kafka never does,
// since a pod that exits while its dependency restarts only adds a restart loop to the outage.
import { ConfigError } from './config/env.js';
import { messageOf } from './errors.js';
import type { Logger } from './logging.js';

export type Dependency = 'redis' | 'kafka' | 'postgres';

/** A failure to reach one dependency at boot, named (the retry log line and the test read `dependency`). */
export class DependencyError extends Error {
  constructor(readonly dependency: Dependency, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DependencyError';
  }
}

// What no retry can fix: the server said who we are or what we sent is wrong.
const CONFIG_CODES = new Set([
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ENOENT', 'EACCES',
]);
const CONFIG_NAMES = new Set(['ConfigError', 'KafkaJSSASLAuthenticationError']);
const CONFIG_TEXT = /WRONGPASS|NOAUTH|invalid username-password|refused the credentials|NOPERM|alert (certificate required|unknown ca|bad certificate)|AUTHORIZATION_FAILED|SASL authentication failed|check REDIS_TLS/;

/** True when `err` (or any error in its cause chain) says the configuration is wrong, not that a dependency is away. */
export function isConfigurationError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 10; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ConfigError) return true;
    const x = e as { name?: string; code?: string; type?: string; message?: string };
    if ((x.name && CONFIG_NAMES.has(x.name)) || (x.code && CONFIG_CODES.has(x.code))) return true;
    if (typeof x.type === 'string' && x.type.endsWith('_AUTHORIZATION_FAILED')) return true;
    if (typeof x.message === 'string' && CONFIG_TEXT.test(x.message)) return true;
  }
  return false;
}

export interface BootRetryOptions {
  logger: Logger;
  /** First wait; doubles per failed attempt up to maxMs. */
  minMs?: number;
  maxMs?: number;
  /** Checked before each attempt and wait: true once the process is asked to stop (SIGTERM at boot). */
  stopping?: () => boolean;
  /** Test seam: how to wait. */
  sleep?: (ms: number) => Promise<void>;
}

/** The wait before attempt n+1 after n failures: minMs·2^(n−1), capped at maxMs. */
export function bootBackoffMs(failures: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.max(0, failures - 1));
}

/**
 * Runs `attempt` until it succeeds; a configuration error is thrown at once, anything else is logged
 * (warn, with the dependency, the attempt number and the next wait) and retried. Resolves undefined
 * when `stopping()` turns true first.
 */
export async function retryUntilReachable<T>(what: string, attempt: () => Promise<T>, opts: BootRetryOptions): Promise<T | undefined> {
  const minMs = opts.minMs ?? 500;
  const maxMs = opts.maxMs ?? 10_000;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let failures = 0; ; ) {
    if (opts.stopping?.()) return undefined;
    try {
      return await attempt();
    } catch (err) {
      if (isConfigurationError(err)) throw err;
      failures++;
      const retryInMs = bootBackoffMs(failures, minMs, maxMs);
      const dependency = err instanceof DependencyError ? err.dependency : 'unknown';
      opts.logger.warn({ what, dependency, attempt: failures, retryInMs, err: messageOf(err) }, 'dependency unreachable at boot; retrying');
      if (opts.stopping?.()) return undefined;
      await sleep(retryInMs);
    }
  }
}
