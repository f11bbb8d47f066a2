// PostgreSQL as a process of the stack (not the Debian "main" cluster): its own data dir, port and
// socket dir. It refuses to run as root, so as root it runs as the `postgres` user with its files
// under /var/tmp/flux-gate-<stack-id> (root's home is not readable by that user).
// TLS (ssl=on, the stack's server certificate from certs.ts) with three roles on one port:
//   fluxgate       password, with or without TLS (what every test and component uses by default)
//   fluxgate_tls   password, over TLS only (hostnossl … reject)
//   fluxgate_cert  a client certificate whose CN is the role (cert auth), over TLS only
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { ensureClientCert, ensureStackPki } from '../certs.js';
import { postgresBinDir, run } from '../install.js';
import { spawnDetached } from '../proc.js';
import type { StackState } from '../state.js';
import type { ServiceContext, ServiceDriver } from './types.js';

export const PG_USER = 'fluxgate';
export const PG_PASSWORD = 'fluxgate';
export const PG_DATABASE = 'fluxgate';
/** The role that may connect only over TLS (password auth). */
export const PG_TLS_USER = 'fluxgate_tls';
export const PG_TLS_PASSWORD = 'fluxgate_tls';
/** The role that logs in with a client certificate only (CN = role name). */
export const PG_CERT_USER = 'fluxgate_cert';

/** Where a stack's PostgreSQL files go: reachable by the user the server runs as. */
export function postgresBaseDirFor(stackId: string, stateDir: string): string {
  return process.getuid?.() === 0 ? `/var/tmp/flux-gate-${stackId}` : join(stateDir, 'postgres');
}

interface RunAs {
  uid?: number;
  gid?: number;
}

export function serverUser(): RunAs {
  if (process.getuid?.() !== 0) return {};
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root but there is no `postgres` user (it comes with the postgresql package)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export const dataDir = (state: StackState) => join(state.postgres.baseDir, 'data');

export function binDir(): string {
  const dir = postgresBinDir();
  if (!dir) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql/<version>/bin');
  return dir;
}

export function serverEnv(baseDir: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: baseDir, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
}
const env = (state: StackState) => serverEnv(state.postgres.baseDir);

/**
 * Order matters (first match wins): the two TLS-only roles are rejected on a plain connection
 * before the catch-all `host` line, which keeps the default role working with or without TLS.
 */
const HBA = [
  '# written by tools/stack/services/postgres.ts on every stack:up',
  'local     all  all                        trust',
  `hostssl   all  ${PG_CERT_USER}  all       cert`,
  `hostnossl all  ${PG_CERT_USER}  all       reject`,
  `hostssl   all  ${PG_TLS_USER}   all       scram-sha-256`,
  `hostnossl all  ${PG_TLS_USER}   all       reject`,
  'host      all  all            all       scram-sha-256',
  '',
].join('\n');

/** Copies of the TLS files the server reads, owned by the user it runs as (the key mode 600, as it insists). */
export interface ServerTlsFiles {
  cert: string;
  key: string;
  ca: string;
}

const serverTlsFiles = (dir: string): ServerTlsFiles => ({ cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'ca.crt') });

/** Copies `server` (and the CA clients' certificates must lead to) into `dir` for the server user. */
export function installServerTls(dir: string, server: { cert: string; key: string }, ca: string): ServerTlsFiles {
  const user = serverUser();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = serverTlsFiles(dir);
  copyFileSync(server.cert, files.cert);
  copyFileSync(server.key, files.key);
  copyFileSync(ca, files.ca);
  for (const f of [dir, ...Object.values(files)]) if (user.uid !== undefined) chownSync(f, user.uid, user.gid!);
  chmodSync(files.key, 0o600);
  return files;
}

/** `-c` settings turning TLS on with those files. */
export function tlsArgs(files: ServerTlsFiles): string[] {
  return ['-c', 'ssl=on', '-c', `ssl_cert_file=${files.cert}`, '-c', `ssl_key_file=${files.key}`, '-c', `ssl_ca_file=${files.ca}`];
}

const tlsDir = (state: StackState) => join(state.postgres.baseDir, 'tls');
const hbaFile = (state: StackState) => join(state.postgres.baseDir, 'pg_hba.conf');

/** TLS files and pg_hba.conf, rewritten on every up (also for a data dir made before TLS existed). */
function prepareTlsAndHba(state: StackState): void {
  const pki = ensureStackPki(state);
  installServerTls(tlsDir(state), pki.server, pki.caCert);
  ensureClientCert(state, PG_CERT_USER);
  writeFileSync(hbaFile(state), HBA);
  const user = serverUser();
  if (user.uid !== undefined) chownSync(hbaFile(state), user.uid, user.gid!);
}

/** What stack:env adds for PostgreSQL TLS: the URLs of the two TLS-only roles, the CA (FLUXGATE_TLS_CA, the one name for it) and the client certificate. */
export function postgresTlsEnv(state: StackState): Record<string, string> {
  const pki = ensureStackPki(state);
  const client = ensureClientCert(state, PG_CERT_USER);
  const hostPort = `127.0.0.1:${state.ports.postgres}`;
  return {
    DATABASE_TLS_URL: `postgres://${PG_TLS_USER}:${PG_TLS_PASSWORD}@${hostPort}/${PG_DATABASE}`,
    DATABASE_CERT_URL: `postgres://${PG_CERT_USER}@${hostPort}/${PG_DATABASE}`,
    FLUXGATE_TLS_CA: pki.caCert,
    FLUXGATE_PG_CLIENT_CERT: client.cert,
    FLUXGATE_PG_CLIENT_KEY: client.key,
  };
}

async function query(config: pg.ClientConfig, sql: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ ...config, connectionTimeoutMillis: 2000 });
  client.on('error', () => {
    /* a dropped connection shows up as the query's error */
  });
  await client.connect();
  try {
    return await client.query(sql, values);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The superuser over the unix socket (trust auth), for setup only. */
const adminConfig = (state: StackState): pg.ClientConfig => ({
  host: state.postgres.baseDir,
  port: state.ports.postgres,
  user: 'postgres',
  database: 'postgres',
});

export const postgresDriver: ServiceDriver = {
  name: 'postgres',
  port: (state) => state.ports.postgres,
  markers: (state) => ['postgres', dataDir(state)],
  async prepare({ state, log }: ServiceContext) {
    const base = state.postgres.baseDir;
    const user = serverUser();
    mkdirSync(base, { recursive: true });
    if (user.uid !== undefined) chownSync(base, user.uid, user.gid!);
    chmodSync(base, 0o700);
    prepareTlsAndHba(state);
    if (existsSync(join(dataDir(state), 'PG_VERSION'))) return;
    log(`initializing PostgreSQL data in ${dataDir(state)}`);
    const logFile = join(state.stateDir, 'postgres.log');
    await run(
      join(binDir(), 'initdb'),
      ['-D', dataDir(state), '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-locale', '--no-sync'],
      logFile,
      { ...user, env: env(state) },
    );
    // Test settings: fsync off survives a process crash (the OS keeps the writes), not a machine
    // crash — fine for a disposable test database, and much faster on a shared 2-core box.
    writeFileSync(
      join(dataDir(state), 'postgresql.auto.conf'),
      ['fsync = off', 'full_page_writes = off', 'max_connections = 200', "listen_addresses = '127.0.0.1'", ''].join('\n'),
    );
  },
  spawn({ state }, logFile) {
    return spawnDetached(
      join(binDir(), 'postgres'),
      [
        '-D', dataDir(state), '-p', String(state.ports.postgres), '-c', `unix_socket_directories=${state.postgres.baseDir}`,
        '-c', `hba_file=${hbaFile(state)}`, ...tlsArgs(serverTlsFiles(tlsDir(state))),
      ],
      logFile,
      { ...serverUser(), env: env(state), cwd: state.postgres.baseDir },
    );
  },
  async probe({ state }) {
    await query(adminConfig(state), 'SELECT 1');
  },
  async afterReady({ state }) {
    const admin = adminConfig(state);
    const role = await query(admin, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [PG_USER]);
    if (role.rowCount === 0) {
      await query(admin, `CREATE ROLE ${PG_USER} LOGIN CREATEDB PASSWORD '${PG_PASSWORD}'`);
    }
    const db = await query(admin, 'SELECT 1 FROM pg_database WHERE datname = $1', [PG_DATABASE]);
    if (db.rowCount === 0) await query(admin, `CREATE DATABASE ${PG_DATABASE} OWNER ${PG_USER}`);
    // CREATEDB: a test makes its own database as that role, over TLS (e2e/worker/postgres-tls.test.ts).
    for (const [name, password] of [[PG_TLS_USER, PG_TLS_PASSWORD], [PG_CERT_USER, undefined]] as const) {
      const exists = await query(admin, 'SELECT 1 FROM pg_roles WHERE rolname = $1', [name]);
      if (exists.rowCount === 0) await query(admin, `CREATE ROLE ${name} LOGIN CREATEDB${password ? ` PASSWORD '${password}'` : ''}`);
    }
    // The check that matters: the URL everyone gets works over TCP with the password.
    await query({ connectionString: postgresDriver.url(state) }, 'SELECT 1');
  },
  url: (state) => `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${state.ports.postgres}/${PG_DATABASE}`,
  // SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") would wait for every client to leave.
  stopSignal: 'SIGINT',
  stopTimeoutMs: 30_000,
  readyTimeoutMs: 60_000,
};
