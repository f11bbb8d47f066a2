// A minimal HTTP/1.1 client for one keep-alive connection with pipelining: requests go out on
// the socket in the order they were asked for, and their answers come back in that order.
// Why: the waiting room's fairness is measured against a KNOWN join order; one connection carrying
// the requests in order gives one, and pipelining keeps it fast (no round trip per request).
import { connect, type Socket } from 'node:net';

export interface PipelinedResponse {
  status: number;
  body: string;
}

interface Pending {
  resolve: (r: PipelinedResponse) => void;
  reject: (e: Error) => void;
}

export class PipelinedClient {
  private readonly socket: Socket;
  /** Connected (writes before it are buffered by the socket, in order). */
  readonly ready: Promise<void>;
  private readonly pending: Pending[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private failed: Error | undefined;

  constructor(base: string) {
    const u = new URL(base);
    this.socket = connect({ host: u.hostname, port: Number(u.port), noDelay: true });
    this.ready = new Promise((res, rej) => {
      this.socket.once('connect', res);
      this.socket.once('error', rej);
    });
    this.ready.catch(() => undefined); // reported through the requests that fail
    this.socket.on('data', (d) => this.onData(d));
    const fail = (e: Error) => {
      this.failed ??= e;
      for (const p of this.pending.splice(0)) p.reject(e);
    };
    this.socket.on('error', fail);
    this.socket.on('close', () => fail(new Error('connection closed by the server')));
  }

  /** Writes one request now, synchronously (after the ones before it); resolves with its answer. */
  request(method: string, path: string, body?: unknown): Promise<PipelinedResponse> {
    if (this.failed) return Promise.reject(this.failed);
    const payload = body === undefined ? '' : JSON.stringify(body);
    const head = `${method} ${path} HTTP/1.1\r\nhost: bench\r\n` + (body === undefined ? '' : `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n`) + '\r\n';
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket.write(head + payload);
    });
  }

  /**
   * Sends requests in order, at most `window` unanswered at a time; returns the answers in order.
   * make(i) builds request i.
   */
  async all(n: number, make: (i: number) => [method: string, path: string, body?: unknown], window = 64): Promise<PipelinedResponse[]> {
    const out: PipelinedResponse[] = new Array(n);
    let next = 0;
    const lane = async () => {
      while (next < n) {
        const i = next++;
        const [m, p, b] = make(i);
        out[i] = await this.request(m, p, b);
      }
    };
    // Each lane sends its next request as soon as its previous one is answered; request() writes
    // synchronously, so the socket carries them in the order next++ gave them out.
    await this.ready;
    await Promise.all(Array.from({ length: Math.min(window, n) }, lane));
    return out;
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString('latin1');
      const status = Number(head.slice(9, 12));
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (!m) throw new Error(`pipelined client: an answer without content-length:\n${head}`);
      const len = Number(m[1]);
      if (this.buf.length < end + 4 + len) return;
      const body = this.buf.subarray(end + 4, end + 4 + len).toString('utf8');
      this.buf = this.buf.subarray(end + 4 + len);
      this.pending.shift()?.resolve({ status, body });
    }
  }
}
