// Redis without persistence: a restart loses every key, exactly like the crash the operator's
// recovery protocol must handle (its tests depend on that).
import { mkdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
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

export const redisDriver: ServiceDriver = {
  name: 'redis',
  port: (state) => state.ports.redis,
  markers: (state) => ['redis-server', `:${state.ports.redis}`],
  async prepare({ state }) {
    mkdirSync(join(state.stateDir, 'redis'), { recursive: true });
  },
  spawn({ state }, logFile) {
    const bin = which('redis-server');
    if (!bin) throw new Error('redis-server is not installed');
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
