// The kafkajs connection options of every process (API producer, worker, operator lag reader),
// built in one place from the KAFKA_* variables: brokers, client id, TLS and SASL.
// Invariant: a setting that cannot work (a mechanism without a user, a CA file that cannot be read
// or holds no certificate, a client certificate without its key, TLS files without KAFKA_TLS) is
// refused at start with a ConfigError naming the variable, never discovered at the first order.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { KafkaConfig, SASLOptions } from 'kafkajs';
import { ConfigError, type ConfigOf } from '../config/env.js';
import type { connectionVars, KAFKA_CONNECTION_VARS } from '../config/variables.js';
import { clampKafkajsPendingCheck } from './pending-check.js';

export type KafkaConnectionConfig = Pick<ConfigOf<typeof connectionVars>, (typeof KAFKA_CONNECTION_VARS)[number]>;

export type KafkaComponent = 'api' | 'worker' | 'operator';

/** What every kafkajs client of a process is built with (the rest — retries, timeouts — is the caller's). */
export type KafkaClientOptions = Required<Pick<KafkaConfig, 'clientId' | 'brokers'>> & Pick<KafkaConfig, 'ssl' | 'sasl'>;

type ReadFile = (path: string) => string;
const readText: ReadFile = (path) => readFileSync(path, 'utf8');

/** Reads a PEM file that must hold `block` (e.g. "CERTIFICATE"); a problem is pushed, not thrown, so all are reported at once. */
function readPem(name: string, path: string, block: RegExp, what: string, read: ReadFile, problems: string[]): string | undefined {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    problems.push(`${name}: cannot read ${path}: ${(err as Error).message}`);
    return undefined;
  }
  if (!block.test(text)) {
    problems.push(`${name}: ${path} holds no PEM ${what}`);
    return undefined;
  }
  return text;
}

function tlsOptions(c: KafkaConnectionConfig, read: ReadFile, problems: string[]): ConnectionOptions | true | undefined {
  const files = (['KAFKA_TLS_CA_FILE', 'KAFKA_TLS_CERT_FILE', 'KAFKA_TLS_KEY_FILE'] as const).filter((n) => c[n] !== undefined);
  if (!c.KAFKA_TLS) {
    if (files.length > 0) problems.push(`${files.join(', ')} set but KAFKA_TLS is false: set KAFKA_TLS=true to connect with TLS`);
    return undefined;
  }
  if ((c.KAFKA_TLS_CERT_FILE === undefined) !== (c.KAFKA_TLS_KEY_FILE === undefined))
    problems.push('KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE go together (mutual TLS needs the certificate and its key)');
  if (files.length === 0) return true; // the system CAs
  const ssl: ConnectionOptions = {};
  // `ca` replaces Node's built-in CAs: the broker must chain to this file, nothing else.
  if (c.KAFKA_TLS_CA_FILE) ssl.ca = readPem('KAFKA_TLS_CA_FILE', c.KAFKA_TLS_CA_FILE, /-----BEGIN CERTIFICATE-----/, 'certificate', read, problems);
  if (c.KAFKA_TLS_CERT_FILE) ssl.cert = readPem('KAFKA_TLS_CERT_FILE', c.KAFKA_TLS_CERT_FILE, /-----BEGIN CERTIFICATE-----/, 'certificate', read, problems);
  if (c.KAFKA_TLS_KEY_FILE) ssl.key = readPem('KAFKA_TLS_KEY_FILE', c.KAFKA_TLS_KEY_FILE, /-----BEGIN (RSA |EC )?PRIVATE KEY-----/, 'unencrypted private key', read, problems);
  return ssl;
}

function saslOptions(c: KafkaConnectionConfig, problems: string[]): SASLOptions | undefined {
  if (c.KAFKA_SASL_MECHANISM === undefined) {
    const stray = (['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const).filter((n) => c[n] !== undefined);
    if (stray.length > 0) problems.push(`${stray.join(' and ')} set but KAFKA_SASL_MECHANISM is not: set it to plain, scram-sha-256 or scram-sha-512`);
    return undefined;
  }
  const missing = (['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const).filter((n) => c[n] === undefined);
  if (missing.length > 0) {
    problems.push(`KAFKA_SASL_MECHANISM=${c.KAFKA_SASL_MECHANISM} needs ${missing.join(' and ')}`);
    return undefined;
  }
  return { mechanism: c.KAFKA_SASL_MECHANISM, username: c.KAFKA_SASL_USERNAME!, password: c.KAFKA_SASL_PASSWORD! } as SASLOptions;
}

/**
 * The kafkajs options of `component`'s clients: client id "<KAFKA_CLIENT_ID>-<component>", the
 * brokers, TLS and SASL. Throws a ConfigError listing every problem. `read` is injectable for unit tests.
 */
export function kafkaClientOptions(c: KafkaConnectionConfig, component: KafkaComponent, read: ReadFile = readText): KafkaClientOptions {
  clampKafkajsPendingCheck(); // every process builds its clients here: no TimeoutNegativeWarning from kafkajs
  const problems: string[] = [];
  const ssl = tlsOptions(c, read, problems);
  const sasl = saslOptions(c, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return { clientId: `${c.KAFKA_CLIENT_ID}-${component}`, brokers: c.KAFKA_BROKERS, ...(ssl ? { ssl } : {}), ...(sasl ? { sasl } : {}) };
}
