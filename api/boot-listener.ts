// The public port while the API waits for Redis and Kafka at boot: /healthz 200 (alive: a liveness
// or startup probe must not restart a pod that only waits), /readyz 503 (no traffic yet), anything
// else the contract's 503 `unavailable` with Retry-After. Closed right before Fastify listens.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BootListener {
  port: number;
  close(): Promise<void>;
}

export async function startBootListener(port: number, host: string): Promise<BootListener> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', connection: 'close', ...headers });
      res.end(JSON.stringify(body));
    };
    req.resume(); // the body is not read, only drained
    if (path === '/healthz') return send(200, { status: 'ok' });
    if (path === '/readyz') return send(503, { status: 'not_ready', starting: true });
    send(503, { status: 'unavailable', message: 'starting: waiting for Redis and Kafka; retry' }, { 'retry-after': '1' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
