// PostgreSQL as a process of the stack (not the Debian "main" cluster): its own data dir, port and
// socket dir. It refuses to run as root, so as root it runs as the `postgres` user with its files
// under /var/tmp/flux-gate-<stack-id> (root's home is not readable by that user).
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { postgresBinDir, run } from '../install.js';
import { spawnDetached } from '../proc.js';
import type { StackState } from '../state.js';
import type { ServiceContext, ServiceDriver } from './types.js';

export const PG_USER = 'fluxgate';
export const PG_PASSWORD = 'fluxgate';
export const PG_DATABASE = 'fluxgate';

/** Where a stack's PostgreSQL files go: reachable by the user the server runs as. */
export function postgresBaseDirFor(stackId: string, stateDir: string): string {
  return process.getuid?.() === 0 ? `/var/tmp/flux-gate-${stackId}` : join(stateDir, 'postgres');
}

interface RunAs {
  uid?: number;
  gid?: number;
}

function serverUser(): RunAs {
  if (process.getuid?.() !== 0) return {};
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('running as root but there is no `postgres` user (it comes with the postgresql package)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export const dataDir = (state: StackState) => join(state.postgres.baseDir, 'data');

function binDir(): string {
  const dir = postgresBinDir();
  if (!dir) throw new Error('PostgreSQL server binaries not found under /usr/lib/postgresql/<version>/bin');
  return dir;
}

function env(state: StackState): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: state.postgres.baseDir, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' };
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
      ['-D', dataDir(state), '-p', String(state.ports.postgres), '-c', `unix_socket_directories=${state.postgres.baseDir}`],
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
    // The check that matters: the URL everyone gets works over TCP with the password.
    await query({ connectionString: postgresDriver.url(state) }, 'SELECT 1');
  },
  url: (state) => `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${state.ports.postgres}/${PG_DATABASE}`,
  // SIGINT is PostgreSQL's "fast" shutdown; SIGTERM ("smart") would wait for every client to leave.
  stopSignal: 'SIGINT',
  stopTimeoutMs: 30_000,
  readyTimeoutMs: 60_000,
};
