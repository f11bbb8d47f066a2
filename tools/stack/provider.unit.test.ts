import { describe, expect, it } from 'vitest';
import { chooseProvider, dockerEndpoint, needsDockerProbe } from './provider.js';

const all = { REDIS_URL: 'redis://127.0.0.1:1/0', DATABASE_URL: 'postgres://u:p@127.0.0.1:2/db', KAFKA_BROKERS: '127.0.0.1:3' };

describe('chooseProvider', () => {
  it('uses the environment when all three service variables are set, whatever Docker says', () => {
    expect(chooseProvider(all, true).kind).toBe('env');
    expect(chooseProvider(all, undefined).kind).toBe('env');
  });

  it('uses testcontainers when nothing is set and Docker answers', () => {
    expect(chooseProvider({}, true).kind).toBe('testcontainers');
  });

  it('falls back to the local stack when nothing is set and Docker does not answer', () => {
    expect(chooseProvider({}, false).kind).toBe('local');
  });

  it('treats empty strings as unset', () => {
    expect(chooseProvider({ REDIS_URL: '', DATABASE_URL: '', KAFKA_BROKERS: '' }, false).kind).toBe('local');
  });

  it('refuses a partial set, naming what is set and what is missing', () => {
    expect(() => chooseProvider({ REDIS_URL: all.REDIS_URL }, false)).toThrow(
      'REDIS_URL is set but DATABASE_URL, KAFKA_BROKERS are not',
    );
    expect(() => chooseProvider({ REDIS_URL: all.REDIS_URL, KAFKA_BROKERS: all.KAFKA_BROKERS }, true)).toThrow(
      'REDIS_URL, KAFKA_BROKERS are set but DATABASE_URL is not',
    );
  });

  it('honours FLUXGATE_TEST_SERVICES', () => {
    expect(chooseProvider({ FLUXGATE_TEST_SERVICES: 'local' }, true).kind).toBe('local');
    expect(chooseProvider({ ...all, FLUXGATE_TEST_SERVICES: 'local' }, undefined).kind).toBe('local');
    expect(chooseProvider({ FLUXGATE_TEST_SERVICES: 'testcontainers' }, true).kind).toBe('testcontainers');
    expect(chooseProvider({ ...all, FLUXGATE_TEST_SERVICES: 'env' }, undefined).kind).toBe('env');
  });

  it('rejects a forced provider that cannot work, or an unknown one', () => {
    expect(() => chooseProvider({ FLUXGATE_TEST_SERVICES: 'env', REDIS_URL: all.REDIS_URL }, undefined)).toThrow(
      'FLUXGATE_TEST_SERVICES=env but DATABASE_URL, KAFKA_BROKERS are not set',
    );
    expect(() => chooseProvider({ FLUXGATE_TEST_SERVICES: 'testcontainers' }, false)).toThrow('no Docker engine answered');
    expect(() => chooseProvider({ FLUXGATE_TEST_SERVICES: 'docker' }, true)).toThrow(
      'FLUXGATE_TEST_SERVICES="docker" is not one of env, testcontainers, local',
    );
  });
});

describe('needsDockerProbe', () => {
  it('probes only when the choice depends on Docker', () => {
    expect(needsDockerProbe({})).toBe(true);
    expect(needsDockerProbe(all)).toBe(false);
    expect(needsDockerProbe({ FLUXGATE_TEST_SERVICES: 'local' })).toBe(false);
    expect(needsDockerProbe({ ...all, FLUXGATE_TEST_SERVICES: 'testcontainers' })).toBe(true);
  });
});

describe('dockerEndpoint', () => {
  it('reads DOCKER_HOST', () => {
    expect(dockerEndpoint({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' })).toEqual({ socketPath: '/run/user/1000/docker.sock' });
    expect(dockerEndpoint({ DOCKER_HOST: 'tcp://10.0.0.5:2375' })).toEqual({ host: '10.0.0.5', port: 2375 });
    expect(dockerEndpoint({ DOCKER_HOST: 'ssh://me@host' })).toBeUndefined();
  });
});
