// core/boot: what ends a boot (bad configuration) and what is waited for (a dependency away), and the capped backoff.
import { describe, expect, it } from 'vitest';
import { ConfigError } from './config/env.js';
import { bootBackoffMs, DependencyError, isConfigurationError, retryUntilReachable } from './boot.js';
import { createLogger } from './logging.js';

const tagged = (e: unknown) => new DependencyError('redis', 'Redis (single redis://x:1/0): …', { cause: e });
const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('isConfigurationError', () => {
  it.each([
    ['an invalid variable', new ConfigError(['PORT: not a number'])],
    ['refused credentials (explained)', new Error('Redis refused the credentials: check REDIS_USERNAME / REDIS_PASSWORD (WRONGPASS …)')],
    ['an untrusted certificate, deep in the cause chain', tagged(withCode('unable to get local issuer certificate', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY'))],
    ['a refused client certificate', new Error('TLS: Redis refused the client certificate … alert unknown ca')],
    ['a missing ACL permission', new Error("NOPERM this user has no permissions to run the 'get' command")],
    ['Kafka SASL', Object.assign(new Error('SASL SCRAM-SHA-512 authentication failed'), { name: 'KafkaJSSASLAuthenticationError' })],
    ['Kafka topic authorization', Object.assign(new Error('Not authorized to access topics'), { type: 'TOPIC_AUTHORIZATION_FAILED' })],
  ])('%s ends the boot', (_label, err) => {
    expect(isConfigurationError(err)).toBe(true);
  });

  it.each([
    ['connection refused', tagged(withCode('connect ECONNREFUSED 127.0.0.1:6379', 'ECONNREFUSED'))],
    ['a reset', withCode('read ECONNRESET', 'ECONNRESET')],
    ['a timeout', new Error('Connection timeout')],
    ['no Sentinel answered', new Error('All sentinels are unreachable. Retrying from scratch after 10ms.')],
    ['kafkajs giving up on a broker restart', Object.assign(new Error('Connection error: connect ECONNREFUSED'), { name: 'KafkaJSNonRetriableError' })],
  ])('%s is waited for', (_label, err) => {
    expect(isConfigurationError(err)).toBe(false);
  });
});

describe('bootBackoffMs', () => {
  it('doubles from minMs and stays at maxMs', () => {
    expect([1, 2, 3, 4, 5, 6, 10].map((n) => bootBackoffMs(n, 500, 10_000))).toEqual([500, 1000, 2000, 4000, 8000, 10_000, 10_000]);
  });
});

describe('retryUntilReachable', () => {
  const logger = createLogger('api', 'silent');

  it('retries a transient failure until the attempt succeeds', async () => {
    const waits: number[] = [];
    let n = 0;
    const got = await retryUntilReachable('t', async () => {
      if (++n < 4) throw tagged(withCode('connect ECONNREFUSED', 'ECONNREFUSED'));
      return 'up';
    }, { logger, sleep: async (ms) => void waits.push(ms) });
    expect(got).toBe('up');
    expect(waits).toEqual([500, 1000, 2000]);
  });

  it('throws a configuration error at once', async () => {
    let n = 0;
    const err = new ConfigError(['bad']);
    await expect(retryUntilReachable('t', async () => {
      n++;
      throw err;
    }, { logger, sleep: async () => undefined })).rejects.toBe(err);
    expect(n).toBe(1);
  });

  it('gives up quietly once the process is stopping', async () => {
    let stopping = false;
    const got = await retryUntilReachable('t', async () => {
      stopping = true;
      throw new Error('connect ECONNREFUSED');
    }, { logger, stopping: () => stopping, sleep: async () => undefined });
    expect(got).toBeUndefined();
  });
});
