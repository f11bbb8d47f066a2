import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cacheDirFor, stackIdFor, stackPaths } from './paths.js';
import { brokerJit, forgetBrokerJit, kafkaJitFlags, renderServerProperties, stackKafkaUsers } from './services/kafka.js';
import { PORT_RANGE, pickNodeNet, pickPorts, type StackState } from './state.js';
import { toShellExports } from './stack.js';

describe('stack paths', () => {
  it('derives a stable id from the repo path, different for two clones', () => {
    const a = stackIdFor({}, '/home/me/flux-gate');
    expect(a).toMatch(/^r[0-9a-f]{10}$/);
    expect(stackIdFor({}, '/home/me/flux-gate')).toBe(a);
    expect(stackIdFor({}, '/home/me/flux-gate-2')).not.toBe(a);
  });

  it('takes FLUXGATE_STACK_ID and rejects one that is not a safe folder name', () => {
    expect(stackIdFor({ FLUXGATE_STACK_ID: 'worker' }, '/x')).toBe('worker');
    expect(() => stackIdFor({ FLUXGATE_STACK_ID: '../etc' }, '/x')).toThrow('FLUXGATE_STACK_ID="../etc" is not a valid stack id');
  });

  it('keeps state per stack under the cache folder', () => {
    expect(cacheDirFor({ FLUXGATE_CACHE_DIR: '/c' })).toBe('/c');
    expect(stackPaths({ FLUXGATE_CACHE_DIR: '/c', FLUXGATE_STACK_ID: 's1' }, '/repo')).toEqual({
      repoRoot: '/repo',
      cacheDir: '/c',
      stackId: 's1',
      stateDir: '/c/stacks/s1',
    });
  });
});

describe('pickPorts', () => {
  it('returns distinct free ports inside the range, skipping excluded and busy ones', async () => {
    const sequence = [0, 0, 0.5, 0.5, 0.25, 0.75];
    let i = 0;
    const random = () => sequence[i++]!;
    const span = PORT_RANGE.max - PORT_RANGE.min;
    const busy = PORT_RANGE.min + Math.floor(0.25 * span);
    const ports = await pickPorts(2, new Set([PORT_RANGE.min]), async (p) => p !== busy, random);
    expect(ports).toEqual([PORT_RANGE.min + Math.floor(0.5 * span), PORT_RANGE.min + Math.floor(0.75 * span)]);
  });
});

describe('renderServerProperties', () => {
  it('fills in ports and the data dir', () => {
    const state = { stateDir: '/s', ports: { kafka: 21001, kafkaController: 21002 } } as StackState;
    expect(renderServerProperties('l=PLAINTEXT://127.0.0.1:@PORT@,CONTROLLER://127.0.0.1:@CONTROLLER_PORT@\nv=1@127.0.0.1:@CONTROLLER_PORT@\nd=@DATA_DIR@', state)).toBe(
      'l=PLAINTEXT://127.0.0.1:21001,CONTROLLER://127.0.0.1:21002\nv=1@127.0.0.1:21002\nd=/s/kafka/data',
    );
  });
});

describe('renderServerProperties (node listener)', () => {
  it('binds the NODE listener on loopback and advertises the node uplink address', () => {
    const state = { stateDir: '/s', nodeNet: 7, ports: { kafka: 1, kafkaController: 2, kafkaNode: 21003 } } as StackState;
    expect(renderServerProperties('l=NODE://127.0.0.1:@NODE_PORT@\na=NODE://@NODE_HOST@:@NODE_PORT@', state)).toBe(
      'l=NODE://127.0.0.1:21003\na=NODE://10.214.7.1:21003',
    );
  });

  it('binds the NODE_SASL_SSL twin on loopback and advertises it on the uplink too', () => {
    const state = { stateDir: '/s', nodeNet: 7, kafka: { clusterId: 'c1' }, ports: { kafkaNodeSaslSsl: 21006 } } as StackState;
    expect(renderServerProperties('l=NODE_SASL_SSL://127.0.0.1:@NODE_SASL_SSL_PORT@\na=NODE_SASL_SSL://@NODE_HOST@:@NODE_SASL_SSL_PORT@', state)).toBe(
      'l=NODE_SASL_SSL://127.0.0.1:21006\na=NODE_SASL_SSL://10.214.7.1:21006',
    );
  });
});

describe('renderServerProperties (secured listeners)', () => {
  it('fills in the SASL_SSL and MTLS ports, the PEM stores and one PLAIN user per component', () => {
    const state = { stateDir: '/s', kafka: { clusterId: 'c1' }, ports: { kafkaSaslSsl: 21004, kafkaMtls: 21005 } } as StackState;
    const out = renderServerProperties('l=SASL_SSL://127.0.0.1:@SASL_SSL_PORT@,MTLS://127.0.0.1:@MTLS_PORT@\nk=@KEYSTORE@\nt=@TRUSTSTORE@\nj=@PLAIN_USERS@', state);
    const users = stackKafkaUsers(state);
    expect(out).toBe(
      'l=SASL_SSL://127.0.0.1:21004,MTLS://127.0.0.1:21005\nk=/s/kafka/server-keystore.pem\nt=/s/tls/ca.crt\n' +
        `j=user_fluxgate-api="${users.api.password}" user_fluxgate-worker="${users.worker.password}" user_fluxgate-operator="${users.operator.password}"`,
    );
    expect(new Set(Object.values(users).map((u) => u.password)).size).toBe(3);
    expect(stackKafkaUsers({ ...state, kafka: { clusterId: 'c2' } } as StackState).api.password).not.toBe(users.api.password);
  });
});

describe('pickNodeNet', () => {
  it('takes the lowest index no other stack claims', () => {
    expect(pickNodeNet(new Set())).toBe(1);
    expect(pickNodeNet(new Set([1, 2, 4]))).toBe(3);
    expect(() => pickNodeNet(new Set(Array.from({ length: 250 }, (_, i) => i + 1)))).toThrow('all 250 node network indexes');
  });
});

describe('toShellExports', () => {
  it('quotes values and prepends PATH', () => {
    expect(toShellExports({ vars: { A: "it's", B: 'x y' }, pathPrepend: '/bin dir' })).toBe(
      `export A='it'\\''s'\nexport B='x y'\nexport PATH='/bin dir':"$PATH"\n`,
    );
  });
});

describe('Kafka JIT (FLUXGATE_KAFKA_JIT)', () => {
  it('runs C1 only unless asked for C2, and says what it takes otherwise', () => {
    expect(kafkaJitFlags({})).toEqual(['-XX:TieredStopAtLevel=1']);
    expect(kafkaJitFlags({ FLUXGATE_KAFKA_JIT: 'c1' })).toEqual(['-XX:TieredStopAtLevel=1']);
    expect(kafkaJitFlags({ FLUXGATE_KAFKA_JIT: 'c2' })).toEqual([]);
    expect(() => kafkaJitFlags({ FLUXGATE_KAFKA_JIT: 'C2' })).toThrow('FLUXGATE_KAFKA_JIT must be "c1" (C1 only: fast start, the default) or "c2" (full tiered compilation, for benchmarks), got "C2"');
  });

  it('a restart without FLUXGATE_KAFKA_JIT keeps the JIT the broker had; down forgets it', () => {
    const state = { stateDir: mkdtempSync(join(tmpdir(), 'fg-jit-')) };
    try {
      expect(brokerJit(state, {})).toEqual({});
      writeFileSync(join(state.stateDir, 'kafka.jit'), 'c2\n'); // what a C2 start records
      expect(kafkaJitFlags(brokerJit(state, {}))).toEqual([]);
      expect(kafkaJitFlags(brokerJit(state, { FLUXGATE_KAFKA_JIT: 'c1' }))).toEqual(['-XX:TieredStopAtLevel=1']);
      expect(() => kafkaJitFlags(brokerJit(state, { FLUXGATE_KAFKA_JIT: 'fast' }))).toThrow('FLUXGATE_KAFKA_JIT must be');
      forgetBrokerJit(state);
      expect(kafkaJitFlags(brokerJit(state, {}))).toEqual(['-XX:TieredStopAtLevel=1']);
    } finally {
      rmSync(state.stateDir, { recursive: true, force: true });
    }
  });
});
