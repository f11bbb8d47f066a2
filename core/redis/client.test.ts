import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../config/env.js';
import { describeRedisTarget, explainRedisError, redisTargetFromConfig, type RedisConnectionConfig } from './client.js';

describe('redisTargetFromConfig', () => {
  it('single: the URL, REDIS_PASSWORD and REDIS_TLS alongside', () => {
    expect(redisTargetFromConfig({ REDIS_URL: 'redis://r:6379/0', REDIS_PASSWORD: 'pw', REDIS_TLS: false })).toEqual({
      mode: 'single',
      url: 'redis://r:6379/0',
      username: undefined,
      password: 'pw',
    });
  });

  it('sentinel: needs the master name; the Sentinels get their own credentials, else the data password', () => {
    expect(redisTargetFromConfig({ REDIS_SENTINELS: ['s0:26379', 's1:26379'], REDIS_SENTINEL_MASTER: 'mymaster', REDIS_TLS: true, REDIS_PASSWORD: 'd' })).toEqual({
      mode: 'sentinel',
      sentinels: ['s0:26379', 's1:26379'],
      masterName: 'mymaster',
      sentinelAuth: { password: 'd' },
      username: undefined,
      password: 'd',
      tls: {},
    });
    expect(
      redisTargetFromConfig({ REDIS_SENTINELS: ['s0:26379'], REDIS_SENTINEL_MASTER: 'm', REDIS_PASSWORD: 'd', REDIS_SENTINEL_USERNAME: 'su', REDIS_SENTINEL_PASSWORD: 's p@ss' }),
    ).toMatchObject({ sentinelAuth: { username: 'su', password: 's p@ss' }, password: 'd' });
    expect(() => redisTargetFromConfig({ REDIS_SENTINELS: ['s0:26379'] })).toThrow(
      new ConfigError(['REDIS_SENTINEL_MASTER is required with REDIS_SENTINELS (the master name the Sentinels monitor)']),
    );
  });

  it('cluster', () => {
    expect(redisTargetFromConfig({ REDIS_CLUSTER_NODES: ['rc-0:6379'], REDIS_PASSWORD: 'pw' })).toMatchObject({ mode: 'cluster', nodes: ['rc-0:6379'], password: 'pw' });
  });

  it('refuses none or several', () => {
    expect(() => redisTargetFromConfig({})).toThrow('set exactly one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES, got none');
    expect(() => redisTargetFromConfig({ REDIS_URL: 'redis://r', REDIS_CLUSTER_NODES: ['rc-0:6379'] })).toThrow('got REDIS_URL and REDIS_CLUSTER_NODES');
  });
});

describe('redisTargetFromConfig: credentials and TLS files, checked together at the boundary', () => {
  let dir: string;
  const f = (name: string) => join(dir, name);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'fg-redis-tls-'));
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
    for (const name of ['a', 'b'])
      openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`);
    writeFileSync(f('junk.pem'), 'not a certificate\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the CA, the client pair and the server name into the target; any password is kept as is', () => {
    const t = redisTargetFromConfig({
      REDIS_URL: 'rediss://r:6380/0', REDIS_USERNAME: 'fluxgate-api', REDIS_PASSWORD: 'p@ss:w/rd#%?& x',
      REDIS_TLS_CA_FILE: f('a.crt'), REDIS_TLS_CERT_FILE: f('b.crt'), REDIS_TLS_KEY_FILE: f('b.key'), REDIS_TLS_SERVERNAME: 'redis.internal',
    });
    expect(t).toMatchObject({ username: 'fluxgate-api', password: 'p@ss:w/rd#%?& x', tls: { servername: 'redis.internal' } });
    expect(t.tls?.ca).toContain('BEGIN CERTIFICATE');
    expect(t.tls?.key).toContain('PRIVATE KEY');
  });

  // Files by name: a/b are two unrelated self-signed pairs, junk.pem is no PEM at all.
  const cases: Array<[string, (file: typeof f) => RedisConnectionConfig, string]> = [
    ['a CA file with TLS off', () => ({ REDIS_URL: 'redis://r', REDIS_TLS_CA_FILE: '/x' }), 'REDIS_TLS_CA_FILE is set but TLS is off: set REDIS_TLS=true or use a rediss:// REDIS_URL'],
    ['an unreadable CA file', () => ({ REDIS_URL: 'redis://r', REDIS_TLS: true, REDIS_TLS_CA_FILE: '/nonexistent/ca.crt' }), 'REDIS_TLS_CA_FILE: cannot read /nonexistent/ca.crt (ENOENT)'],
    ['a CA file without a certificate', (file) => ({ REDIS_URL: 'redis://r', REDIS_TLS: true, REDIS_TLS_CA_FILE: file('junk.pem') }), 'holds no PEM certificate'],
    ['a certificate without its key', (file) => ({ REDIS_URL: 'redis://r', REDIS_TLS: true, REDIS_TLS_CERT_FILE: file('a.crt') }), 'REDIS_TLS_CERT_FILE is set without REDIS_TLS_KEY_FILE (mutual TLS needs both)'],
    ['a key without its certificate', (file) => ({ REDIS_URL: 'redis://r', REDIS_TLS: true, REDIS_TLS_KEY_FILE: file('a.key') }), 'REDIS_TLS_KEY_FILE is set without REDIS_TLS_CERT_FILE'],
    ['a key of another certificate', (file) => ({ REDIS_URL: 'redis://r', REDIS_TLS: true, REDIS_TLS_CERT_FILE: file('a.crt'), REDIS_TLS_KEY_FILE: file('b.key') }), 'REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE: Node refuses them'],
    ['a user without a password', () => ({ REDIS_URL: 'redis://r', REDIS_USERNAME: 'u' }), 'REDIS_USERNAME is set without REDIS_PASSWORD'],
    ['Sentinel credentials without Sentinels', () => ({ REDIS_URL: 'redis://r', REDIS_SENTINEL_PASSWORD: 'x' }), 'REDIS_SENTINEL_PASSWORD is set but REDIS_SENTINELS is not'],
    ['a Sentinel user without a password', () => ({ REDIS_SENTINELS: ['s:1'], REDIS_SENTINEL_MASTER: 'm', REDIS_SENTINEL_USERNAME: 'u' }), 'REDIS_SENTINEL_USERNAME is set without REDIS_SENTINEL_PASSWORD'],
  ];
  it.each(cases)('refuses %s', (_, vars, message) => {
    expect(() => redisTargetFromConfig(vars(f))).toThrow(message);
  });

  it('a user in REDIS_URL needs no REDIS_PASSWORD', () => {
    expect(redisTargetFromConfig({ REDIS_URL: 'redis://u:pw@r', REDIS_USERNAME: 'u' })).toMatchObject({ mode: 'single' });
  });
});

describe('explainRedisError', () => {
  it('names the variable to fix', () => {
    const tlsErr = Object.assign(new Error('unable to get local issuer certificate'), { code: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' });
    expect(explainRedisError(tlsErr)).toMatch(/^TLS: the certificate of Redis is not signed by a CA the client trusts: check REDIS_TLS_CA_FILE/);
    expect(explainRedisError(new Error('WRONGPASS invalid username-password pair or user is disabled.'))).toMatch(/check REDIS_USERNAME \/ REDIS_PASSWORD/);
    expect(explainRedisError(new Error('Connection is closed.'))).toBe('Connection is closed.');
  });
});

describe('describeRedisTarget', () => {
  it('never shows a password', () => {
    expect(describeRedisTarget({ mode: 'single', url: 'redis://:s3cret@r:6379/0' })).toBe('single redis://r:6379/0');
    expect(describeRedisTarget({ mode: 'sentinel', sentinels: ['s0:26379'], masterName: 'm', password: 's3cret' })).toBe('sentinel master "m" via s0:26379');
    expect(describeRedisTarget({ mode: 'cluster', nodes: ['a:1', 'b:2'] })).toBe('cluster via a:1,b:2');
  });
});
