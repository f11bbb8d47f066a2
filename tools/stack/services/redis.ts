// Redis without persistence: a restart loses every key, exactly like the crash the operator's
// recovery protocol must handle (its tests depend on that). Besides the plain port (default user,
// no password: what most tests use) it listens with TLS (the stack CA's server certificate; a client
// certificate is verified when one is presented) and knows one ACL user per Flux-Gate process
// (core/redis/acl.ts), given on the command line so that a restart keeps them.
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { aclRules, type AclProcess } from '../../../core/redis/acl.js';
import { ensureStackPki } from '../certs.js';
import { which } from '../install.js';
import { spawnDetached } from '../proc.js';
import type { ServiceDriver } from './types.js';

function ping(port: number, timeoutMs = 1000): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let reply = '';
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error('PING timed out'));
    });
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) {
        socket.destroy();
        if (reply.startsWith('+PONG')) resolve();
        else reject(new Error(`PING answered ${JSON.stringify(reply.trim())}`));
      }
    });
    socket.once('error', (err) => reject(err));
  });
}

/**
 * The stack's ACL users. The passwords hold characters a URL would need escaped (and a space), to
 * prove REDIS_PASSWORD is sent as is; they guard nothing (the stack listens on loopback only).
 */
export const STACK_REDIS_USERS: Record<AclProcess, { username: string; password: string }> = {
  api: { username: 'fluxgate-api', password: 'p@ss:w/rd#%?& api' },
  operator: { username: 'fluxgate-operator', password: 'p@ss:w/rd#%?& operator' },
};

/** `--user <name> on #<sha256 of the password> <rules>`: redis.conf's `user` directive, the password never in the process list. */
function userArgs(): string[] {
  return Object.entries(STACK_REDIS_USERS).flatMap(([process, u]) => [
    '--user', u.username, 'on', `#${createHash('sha256').update(u.password).digest('hex')}`, ...aclRules(process as AclProcess).split(' '),
  ]);
}

export const redisDriver: ServiceDriver = {
  name: 'redis',
  port: (state) => state.ports.redis,
  markers: (state) => ['redis-server', `:${state.ports.redis}`],
  async prepare({ state }) {
    mkdirSync(join(state.stateDir, 'redis'), { recursive: true });
    ensureStackPki(state);
  },
  spawn({ state }, logFile) {
    const bin = which('redis-server');
    if (!bin) throw new Error('redis-server is not installed');
    const pki = ensureStackPki(state);
    return spawnDetached(
      bin,
      [
        '--bind', '127.0.0.1',
        // Loopback only already; protected mode would also refuse the local node's pods, whose
        // connections arrive DNATed from the node uplink (tools/stack/node/net.ts).
        '--protected-mode', 'no',
        '--port', String(state.ports.redis),
        '--save', '',
        '--appendonly', 'no',
        '--daemonize', 'no',
        '--dir', join(state.stateDir, 'redis'),
        '--logfile', '',
        '--tls-port', String(state.ports.redisTls),
        '--tls-cert-file', pki.server.cert,
        '--tls-key-file', pki.server.key,
        '--tls-ca-cert-file', pki.caCert,
        '--tls-auth-clients', 'optional',
        ...userArgs(),
      ],
      logFile,
    );
  },
  probe: ({ state }) => ping(state.ports.redis),
  url: (state) => `redis://127.0.0.1:${state.ports.redis}/0`,
  stopSignal: 'SIGTERM',
  stopTimeoutMs: 10_000,
  readyTimeoutMs: 30_000,
};
