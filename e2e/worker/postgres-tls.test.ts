// PostgreSQL TLS against real servers: the stack's PostgreSQL (ssl=on, a role allowed only over
// TLS, a role allowed only with a client certificate) and a throwaway one presenting a certificate
// from a CA nobody trusts. Every connection goes through core/postgres/connection.ts, as the
// processes' do; the last test runs `flux-gate migrate` and a worker over TLS and persists an order.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureClientCert, ensureStackPki, type StackPki } from '../../tools/stack/certs.js';
import { startScratchPostgres, type ScratchPostgres } from '../../tools/stack/postgres-scratch.js';
import { requireState } from '../../tools/stack/state.js';
import { pgConnectionConfig, postgresConnection, type PostgresSettings } from '../../core/postgres/connection.js';
import { startComponent } from '../support/processes.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { kafka, makeOrder, produceOrders, requireEnv, startWorker, uniqueName, waitFor } from './support.js';
import { ensureTopics } from '../../core/kafka/admin.js';

let pki: StackPki;
let tlsUrl: string;
let certUrl: string;
let ca: string;
let clientCert: { cert: string; key: string };

/** Connects with the settings a process would have, and says whether the session is encrypted. */
async function sessionOf(settings: PostgresSettings): Promise<{ ssl: boolean; user: string }> {
  const client = new pg.Client({ ...pgConnectionConfig(postgresConnection(settings)), connectionTimeoutMillis: 15_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const r = await client.query<{ ssl: boolean; user: string }>('SELECT ssl, current_user AS user FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return r.rows[0]!;
  } finally {
    await client.end().catch(() => undefined);
  }
}

const withHost = (url: string, host: string, port: number) => {
  const u = new URL(url);
  u.hostname = host;
  u.port = String(port);
  return u.toString();
};

beforeAll(() => {
  tlsUrl = requireEnv('DATABASE_TLS_URL');
  certUrl = requireEnv('DATABASE_CERT_URL');
  ca = requireEnv('FLUXGATE_TLS_CA');
  const state = requireState(requireEnv('FLUXGATE_STACK_STATE'));
  pki = ensureStackPki(state);
  clientCert = ensureClientCert(state, 'fluxgate_cert');
});

describe('the stack PostgreSQL: a role allowed only over TLS', () => {
  it('is refused without TLS (pg_hba hostnossl … reject)', async () => {
    await expect(sessionOf({ DATABASE_URL: tlsUrl })).rejects.toThrow(/pg_hba\.conf rejects connection .*fluxgate_tls.*no encryption/);
    await expect(sessionOf({ DATABASE_URL: tlsUrl, PG_SSLMODE: 'disable' })).rejects.toThrow(/no encryption/);
  });

  it.each([
    ['require', false],
    ['verify-ca', true],
    ['verify-full', true],
  ])('connects encrypted with sslmode %s', async (mode, withCa) => {
    const settings = { DATABASE_URL: tlsUrl, PG_SSLMODE: mode, ...(withCa ? { PG_SSLROOTCERT: ca } : {}) };
    expect(await sessionOf(settings)).toEqual({ ssl: true, user: 'fluxgate_tls' });
  });

  it('the sslmode and CA file may come from the URL instead, as libpq parameters', async () => {
    const url = `${tlsUrl}?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}`;
    expect(await sessionOf({ DATABASE_URL: url })).toEqual({ ssl: true, user: 'fluxgate_tls' });
  });

  describe('dialled by an address its certificate does not name (127.0.0.2, forwarded to the server)', () => {
    let proxy: TcpProxy;
    let mismatched: string;
    beforeAll(async () => {
      const target = new URL(tlsUrl);
      proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) }, '127.0.0.2');
      mismatched = withHost(tlsUrl, '127.0.0.2', proxy.port);
    });
    afterAll(() => proxy?.close());

    it('verify-full refuses it (host name check)', async () => {
      await expect(sessionOf({ DATABASE_URL: mismatched, PG_SSLMODE: 'verify-full', PG_SSLROOTCERT: ca })).rejects.toThrow(
        /IP: 127\.0\.0\.2 is not in the cert's list/,
      );
    });

    it('verify-ca and require accept it (chain only / no check)', async () => {
      expect(await sessionOf({ DATABASE_URL: mismatched, PG_SSLMODE: 'verify-ca', PG_SSLROOTCERT: ca })).toEqual({ ssl: true, user: 'fluxgate_tls' });
      expect(await sessionOf({ DATABASE_URL: mismatched, PG_SSLMODE: 'require' })).toEqual({ ssl: true, user: 'fluxgate_tls' });
    });
  });
});

describe('the stack PostgreSQL: a role allowed only with a client certificate (CN = role)', () => {
  it('logs in with its certificate and no password', async () => {
    const settings = { DATABASE_URL: certUrl, PG_SSLMODE: 'verify-full', PG_SSLROOTCERT: ca, PG_SSLCERT: clientCert.cert, PG_SSLKEY: clientCert.key };
    expect(await sessionOf(settings)).toEqual({ ssl: true, user: 'fluxgate_cert' });
  });

  it('is refused without a certificate, and with a certificate naming another role', async () => {
    await expect(sessionOf({ DATABASE_URL: certUrl, PG_SSLMODE: 'verify-full', PG_SSLROOTCERT: ca })).rejects.toThrow(/requires a valid client certificate/);
    const other = ensureClientCert(requireState(requireEnv('FLUXGATE_STACK_STATE')), 'someone_else');
    await expect(
      sessionOf({ DATABASE_URL: certUrl, PG_SSLMODE: 'verify-full', PG_SSLROOTCERT: ca, PG_SSLCERT: other.cert, PG_SSLKEY: other.key }),
    ).rejects.toThrow(/certificate authentication failed for user "fluxgate_cert"/);
  });
});

describe('a server whose certificate comes from a CA we were not given', () => {
  let scratch: ScratchPostgres;
  beforeAll(async () => {
    scratch = await startScratchPostgres({ server: pki.unknownServer, caCert: pki.unknownCaCert });
  });
  afterAll(() => scratch?.stop());

  it.each(['verify-ca', 'verify-full'])('is refused by %s', async (mode) => {
    await expect(sessionOf({ DATABASE_URL: scratch.url, PG_SSLMODE: mode, PG_SSLROOTCERT: ca })).rejects.toThrow(/self[- ]signed certificate in certificate chain|unable to verify|unable to get local issuer/);
  });

  it('is accepted by require without a CA file (encrypted, not verified)', async () => {
    expect(await sessionOf({ DATABASE_URL: scratch.url, PG_SSLMODE: 'require' })).toEqual({ ssl: true, user: 'postgres' });
  });

  it('is refused by require with a CA file (libpq then checks the chain)', async () => {
    await expect(sessionOf({ DATABASE_URL: scratch.url, PG_SSLMODE: 'require', PG_SSLROOTCERT: ca })).rejects.toThrow(/certificate/);
  });
});

describe('flux-gate processes over TLS', () => {
  it('a bad TLS setting stops migrate at start with exit 78, naming the variable', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ PG_SSLMODE: 'verify-full' }, /sslmode verify-full needs PG_SSLROOTCERT/],
      [{ PG_SSLMODE: 'verify-ca', PG_SSLROOTCERT: '/nonexistent/ca.crt' }, /PG_SSLROOTCERT: cannot read \/nonexistent\/ca\.crt \(ENOENT\)/],
      [{ PG_SSLMODE: 'prefer' }, /PG_SSLMODE must be one of disable, require, verify-ca, verify-full, got "prefer"/],
    ];
    for (const [env, message] of cases) {
      const run = await startComponent('migrate', { DATABASE_URL: tlsUrl, ...env }, { waitReady: false });
      expect(await run.exited).toBe(78);
      expect(run.lines.join('\n')).toMatch(message);
    }
  });

  it.each(['api', 'worker', 'operator'] as const)('%s refuses an unreadable CA file at start (exit 78), before connecting anywhere', async (component) => {
    const run = await startComponent(component, { PG_SSLMODE: 'verify-full', PG_SSLROOTCERT: '/nonexistent/ca.crt', METRICS_PORT: '0', PORT: '0' }, { waitReady: false });
    expect(await run.exited).toBe(78);
    expect(run.lines.join('\n')).toMatch(/PG_SSLROOTCERT: cannot read \/nonexistent\/ca\.crt \(ENOENT\)/);
    expect(run.lines.join('\n')).not.toMatch(/connecting to/);
  });

  it('migrate (settings in the URL) and a worker (settings in PG_* variables) persist an order, each with verify-full', async () => {
    const db = `fg_tls_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    const tlsSettings = { PG_SSLMODE: 'verify-full', PG_SSLROOTCERT: ca };
    // The TLS-only role makes its own database, over TLS.
    const admin = new pg.Client({ ...pgConnectionConfig(postgresConnection({ DATABASE_URL: tlsUrl, ...tlsSettings })) });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${db}`);
    const dbUrl = withHost(tlsUrl, '127.0.0.1', Number(new URL(tlsUrl).port)).replace(/\/fluxgate$/, `/${db}`);
    const pool = new pg.Pool({ ...pgConnectionConfig(postgresConnection({ DATABASE_URL: dbUrl, ...tlsSettings })), max: 2 });
    pool.on('error', () => undefined); // DROP DATABASE … WITH (FORCE) below ends its idle connections
    const topic = uniqueName('e2e-pg-tls');
    let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
    try {
      const migrateRun = await startComponent('migrate', { DATABASE_URL: `${dbUrl}?sslmode=verify-full&sslrootcert=${encodeURIComponent(ca)}` }, { waitReady: false });
      expect(await migrateRun.exited).toBe(0);
      const productId = `tls-${randomUUID().slice(0, 8)}`;
      await pool.query('INSERT INTO products (id, stock, initial_stock) VALUES ($1, 5, 5)', [productId]);
      await ensureTopics(kafka(), { ordersTopic: topic, partitions: 1 });
      worker = await startWorker({
        DATABASE_URL: dbUrl,
        ...tlsSettings,
        KAFKA_BROKERS: requireEnv('KAFKA_BROKERS'),
        ORDERS_TOPIC: topic,
        ORDERS_TOPIC_PARTITIONS: '1',
        KAFKA_GROUP_ID: `${topic}-group`,
        METRICS_PORT: '0',
        METRICS_HOST: '127.0.0.1',
      });
      const order = makeOrder(productId);
      await produceOrders(topic, [order]);
      const row = await waitFor('the order confirmed in PostgreSQL', async () => {
        const r = await pool.query<{ status: string }>('SELECT status FROM orders WHERE id = $1', [order.orderId]);
        return r.rows[0];
      }, 90_000);
      expect(row.status).toBe('confirmed');
      // Every session the worker holds on this database is encrypted (pg_stat_ssl, seen by the server).
      const sessions = await pool.query<{ ssl: boolean }>(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'flux-gate-worker' AND a.datname = $1",
        [db],
      );
      expect(sessions.rows.length).toBeGreaterThan(0);
      expect(sessions.rows.every((s) => s.ssl)).toBe(true);
    } finally {
      await worker?.stop();
      await pool.end();
      await admin.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await admin.end();
    }
  });
});
