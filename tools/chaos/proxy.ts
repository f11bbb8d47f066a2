// A small TCP proxy between an API process and Kafka or Redis, to inject latency and dropped
// responses (so a produce or a reserve may have happened without the API knowing: an ambiguous
// outcome), and to cut every connection at once.
// Invariant: bytes are forwarded in order in each direction; a fault only delays or cuts, never
// reorders or alters them (the optional rewrite only maps broker/master ports to proxy ports, so
// clients that learn addresses from the server keep going through a proxy).
import { createServer, Socket, type Server } from 'node:net';
import type { Rng } from './rng.js';

export interface LinkFault {
  /** Added to every chunk, both directions. */
  latencyMs: number;
  /** Probability that a chunk from the server is swallowed and the connection cut. */
  dropResponse: number;
}

export const HEALTHY: LinkFault = { latencyMs: 0, dropResponse: 0 };

/** Per-connection rewriting of the server's stream (see kafka-frames.ts, resp.ts). */
export interface StreamRewriter {
  fromClient(chunk: Buffer): Buffer;
  fromServer(chunk: Buffer): Buffer;
}

export interface ProxyOptions {
  name: string;
  listenPort: number;
  targetPort: number;
  rng: Rng;
  rewriter?: () => StreamRewriter;
}

/**
 * Delivers chunks to a socket after a delay, never out of order: one FIFO queue drained by one
 * timer. (One timer per chunk reordered them: timers due in the same few ms fire by libuv's
 * cached clock, not by Date.now(), so a later chunk could go first, most often just as a latency
 * fault ended. Replies reordered on a Redis link are handed by ioredis to the wrong commands: a
 * reserve read another one's 'ok'. That forged the violations of three long chaos runs, each at
 * the instant a redis-latency fault ended: 200s past the per-user limit, a key answered twice.)
 */
export class DelayedPipe {
  private readonly queue: Array<{ chunk: Buffer; at: number }> = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly to: Pick<Socket, 'write' | 'destroyed'>, private readonly fault: () => LinkFault) {}

  push(chunk: Buffer): void {
    const { latencyMs } = this.fault();
    if (latencyMs <= 0 && this.queue.length === 0) return void this.to.write(chunk);
    const last = this.queue.length ? this.queue[this.queue.length - 1]!.at : 0;
    this.queue.push({ chunk, at: Math.max(last, Date.now() + Math.max(0, latencyMs)) });
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = Date.now();
      while (this.queue.length && this.queue[0]!.at <= now) {
        const { chunk } = this.queue.shift()!;
        if (!this.to.destroyed) this.to.write(chunk);
      }
      this.schedule();
    }, Math.max(0, this.queue[0]!.at - Date.now()));
  }
}

export class TcpProxy {
  fault: LinkFault = HEALTHY;
  /** Connections accepted so far (proves the client goes through the proxy). */
  accepted = 0;
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  constructor(readonly o: ProxyOptions) {}

  get port(): number {
    return this.o.listenPort;
  }

  async start(): Promise<void> {
    this.server = createServer((client) => this.connect(client));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.o.listenPort, '127.0.0.1', () => resolve());
    });
  }

  /** Cuts every open connection (clients see a reset and reconnect). */
  cutAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    this.cutAll();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private connect(client: Socket): void {
    this.accepted++;
    const upstream = new Socket();
    const rw = this.o.rewriter?.();
    const pair = [client, upstream];
    for (const s of pair) {
      this.sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => undefined);
      s.on('close', () => {
        this.sockets.delete(s);
        for (const other of pair) other.destroy();
      });
    }
    const toServer = new DelayedPipe(upstream, () => this.fault);
    const toClient = new DelayedPipe(client, () => this.fault);
    // Bytes the client sends before the upstream connects are queued by the socket itself.
    client.on('data', (b: Buffer) => toServer.push(rw ? rw.fromClient(b) : b));
    upstream.on('data', (b: Buffer) => {
      if (this.fault.dropResponse > 0 && this.o.rng.chance(this.fault.dropResponse)) {
        for (const s of pair) s.destroy();
        return;
      }
      const out = rw ? rw.fromServer(b) : b;
      if (out.length > 0) toClient.push(out);
    });
    upstream.connect(this.o.targetPort, '127.0.0.1');
  }
}
