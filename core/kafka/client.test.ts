// kafkaClientOptions: the KAFKA_* variables become kafkajs TLS/SASL options, or a ConfigError naming each problem.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/env.js';
import { kafkaClientOptions, type KafkaConnectionConfig } from './client.js';

const CERT = '-----BEGIN CERTIFICATE-----\nMII...\n-----END CERTIFICATE-----\n';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIG...\n-----END PRIVATE KEY-----\n';
const files: Record<string, string> = { '/ca.pem': CERT, '/client.crt': CERT, '/client.key': KEY, '/notes.txt': 'hello' };
const read = (path: string) => {
  if (!(path in files)) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
  return files[path]!;
};
const base: KafkaConnectionConfig = { KAFKA_BROKERS: ['127.0.0.1:9093'], KAFKA_CLIENT_ID: 'fg', KAFKA_TLS: false } as KafkaConnectionConfig;

function problems(c: Partial<KafkaConnectionConfig>): string[] {
  try {
    kafkaClientOptions({ ...base, ...c }, 'api', read);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('kafkaClientOptions', () => {
  it('plaintext without SASL by default; the client id names the component', () => {
    expect(kafkaClientOptions(base, 'worker', read)).toEqual({ clientId: 'fg-worker', brokers: ['127.0.0.1:9093'] });
  });

  it('TLS with a CA, a client certificate and SCRAM', () => {
    const o = kafkaClientOptions(
      { ...base, KAFKA_TLS: true, KAFKA_TLS_CA_FILE: '/ca.pem', KAFKA_TLS_CERT_FILE: '/client.crt', KAFKA_TLS_KEY_FILE: '/client.key',
        KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'fluxgate-api', KAFKA_SASL_PASSWORD: 's3cret' },
      'api', read,
    );
    expect(o.ssl).toEqual({ ca: CERT, cert: CERT, key: KEY });
    expect(o.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'fluxgate-api', password: 's3cret' });
  });

  it('KAFKA_TLS alone trusts the system CAs', () => {
    expect(kafkaClientOptions({ ...base, KAFKA_TLS: true }, 'operator', read).ssl).toBe(true);
  });

  it('a mechanism without user or password is refused, naming both', () => {
    expect(problems({ KAFKA_SASL_MECHANISM: 'plain' })).toEqual(['KAFKA_SASL_MECHANISM=plain needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD']);
    expect(problems({ KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'u' })).toEqual(['KAFKA_SASL_MECHANISM=scram-sha-256 needs KAFKA_SASL_PASSWORD']);
  });

  it('a user without a mechanism is refused (it would silently connect without SASL)', () => {
    expect(problems({ KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' })[0]).toMatch(/KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD set but KAFKA_SASL_MECHANISM is not/);
  });

  it('an unreadable CA file, a file without a certificate, TLS files without KAFKA_TLS, a certificate without its key', () => {
    expect(problems({ KAFKA_TLS: true, KAFKA_TLS_CA_FILE: '/missing.pem' })).toEqual([
      "KAFKA_TLS_CA_FILE: cannot read /missing.pem: ENOENT: no such file or directory, open '/missing.pem'",
    ]);
    expect(problems({ KAFKA_TLS: true, KAFKA_TLS_CA_FILE: '/notes.txt' })).toEqual(['KAFKA_TLS_CA_FILE: /notes.txt holds no PEM certificate']);
    expect(problems({ KAFKA_TLS_CA_FILE: '/ca.pem' })).toEqual(['KAFKA_TLS_CA_FILE set but KAFKA_TLS is false: set KAFKA_TLS=true to connect with TLS']);
    expect(problems({ KAFKA_TLS: true, KAFKA_TLS_CERT_FILE: '/client.crt' })[0]).toMatch(/KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE go together/);
    expect(problems({ KAFKA_TLS: true, KAFKA_TLS_CERT_FILE: '/client.crt', KAFKA_TLS_KEY_FILE: '/client.crt' })).toEqual([
      'KAFKA_TLS_KEY_FILE: /client.crt holds no PEM unencrypted private key',
    ]);
  });

  it('every problem at once', () => {
    expect(problems({ KAFKA_TLS: true, KAFKA_TLS_CA_FILE: '/missing.pem', KAFKA_SASL_MECHANISM: 'plain' })).toHaveLength(2);
  });
});
