// A throwaway PostgreSQL cluster for tests that need a server configured unlike the stack's (e.g.
// one presenting a certificate from a CA no client trusts): initdb in a temp dir, a free port,
// trust auth on 127.0.0.1, TLS with the given pair. Invariant: stop() removes every file it made
// and stops only the process it started (by pid).
import { spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { KeyPair } from './certs.js';
import { run } from './install.js';
import { freePort, stopPid, waitFor } from './proc.js';
import { binDir, installServerTls, serverEnv, serverUser, tlsArgs } from './services/postgres.js';

export interface ScratchPostgres {
  port: number;
  /** No password (trust): postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  stop(): Promise<void>;
}

export async function startScratchPostgres(tls: { server: KeyPair; caCert: string }): Promise<ScratchPostgres> {
  // /var/tmp, not the state dir: as root the server runs as `postgres`, which cannot read root's home.
  const base = mkdtempSync('/var/tmp/flux-gate-scratch-pg-');
  const user = serverUser();
  const data = join(base, 'data');
  const log = join(base, 'postgres.log');
  if (user.uid !== undefined) chownSync(base, user.uid, user.gid!);
  await run(join(binDir(), 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync'], log, {
    ...user,
    env: serverEnv(base),
  });
  writeFileSync(join(data, 'postgresql.auto.conf'), "fsync = off\nlisten_addresses = '127.0.0.1'\nmax_connections = 20\n");
  const files = installServerTls(join(base, 'tls'), tls.server, tls.caCert);
  const port = await freePort();
  const child = spawn(join(binDir(), 'postgres'), ['-D', data, '-p', String(port), '-c', `unix_socket_directories=${base}`, ...tlsArgs(files)], {
    ...user,
    env: serverEnv(base),
    cwd: base,
    stdio: 'ignore',
    // Its own process group: stopPid's SIGKILL fallback kills the group, never the test runner's.
    detached: true,
  });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null) await stopPid(child.pid, 'SIGINT', 30_000);
    rmSync(base, { recursive: true, force: true });
  };
  try {
    await waitFor('scratch PostgreSQL to answer', async () => {
      const c = new pg.Client({ host: base, port, user: 'postgres', database: 'postgres' });
      c.on('error', () => undefined);
      return c.connect().then(() => c.end().then(() => true), () => false);
    }, 120_000, 250);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, url, stop };
}
