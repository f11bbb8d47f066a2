// Buyers: many distinct users placing orders on several sales at once through any API process,
// retrying with the SAME idempotency key after 503 / 429 / 409 in_progress / timeouts / resets (as
// a careful client does), some replaying a key after its 200, some buying past their per-user
// limit. Every request and its answer is appended to the record the checker judges.
// Invariant: bounded: a fixed rate of new orders, at most `concurrency` in flight, at most
// MAX_ATTEMPTS per order, loopback only.
import { Agent, request } from 'node:http';
import type { Attempt, Outcome } from './history.js';
import type { Rng } from './rng.js';
import { sleep } from './util.js';

export interface ApiEndpoint {
  name: string;
  port: number;
}

export interface LoadSale {
  productId: string;
  perUser: number;
}

export interface LoadOptions {
  apis: ApiEndpoint[];
  sales: LoadSale[];
  /** New orders per second (over all sales). */
  rate: number;
  concurrency: number;
  users: number;
  requestTimeoutMs: number;
  rng: Rng;
  /** Run-relative clock (ms). */
  now(): number;
}

const MAX_ATTEMPTS = 8;
/** Answers after which a careful client retries with the same key. */
const RETRIED = new Set<Outcome>([503, 429, 500, 502, 'timeout', 'reset', 'refused', 'error']);

interface Answer {
  outcome: Outcome;
  body?: { status?: string; orderId?: string };
  replayed?: boolean;
  retryAfterSec?: number;
}

function classifyError(err: NodeJS.ErrnoException): Outcome {
  if (err.message === 'timeout') return 'timeout';
  if (err.code === 'ECONNREFUSED') return 'refused';
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.message === 'socket hang up') return 'reset';
  return 'error';
}

export class Load {
  readonly attempts: Attempt[] = [];
  private running = false;
  private inFlight = 0;
  private seq = 0;
  private loop?: Promise<void>;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  /** Users who already bought: a tenth of new orders come from them (some go over the limit). */
  private readonly buyers: string[] = [];
  private readonly orders = new Set<Promise<void>>();

  constructor(private readonly o: LoadOptions) {}

  start(): void {
    this.running = true;
    this.loop = this.tick();
  }

  /** Stops creating orders and waits for the ones in flight to finish their retries. */
  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await Promise.all([...this.orders]);
    this.agent.destroy();
  }

  /** Changes which sales get new orders (e.g. only the restocked ones). */
  setSales(sales: LoadSale[]): void {
    this.o.sales = sales;
  }

  private async tick(): Promise<void> {
    const everyMs = 1000 / this.o.rate;
    let next = Date.now();
    while (this.running) {
      next += everyMs;
      if (this.inFlight < this.o.concurrency && this.o.sales.length > 0) {
        const p = this.order().finally(() => this.orders.delete(p));
        this.orders.add(p);
      }
      await sleep(Math.max(0, next - Date.now()));
    }
  }

  private pickUser(): string {
    const r = this.o.rng;
    if (this.buyers.length > 0 && r.chance(0.1)) return r.pick(this.buyers);
    return `u${r.int(1, this.o.users)}`;
  }

  private async order(): Promise<void> {
    const r = this.o.rng;
    this.inFlight++;
    try {
      const sale = r.pick(this.o.sales);
      const userId = this.pickUser();
      const quantity = sale.perUser >= 2 && r.chance(0.25) ? 2 : 1;
      const key = `k${++this.seq}-${r.int(0, 1e9).toString(36)}`;
      for (let i = 0; i < MAX_ATTEMPTS; i++) {
        const a = await this.send(sale.productId, userId, key, quantity);
        if (a.outcome === 200) {
          this.buyers.push(userId);
          // A client that lost our answer sends the same key again: it must get the same orderId.
          if (r.chance(0.1)) await this.send(sale.productId, userId, key, quantity);
          return;
        }
        if (!RETRIED.has(a.outcome) && !(a.outcome === 409 && a.body?.status === 'in_progress')) return;
        await sleep(Math.min(3000, (a.retryAfterSec ?? 0) * 1000) || r.int(200, 800));
      }
    } finally {
      this.inFlight--;
    }
  }

  private async send(productId: string, userId: string, key: string, quantity: number): Promise<Answer> {
    const api = this.o.rng.pick(this.o.apis);
    const t0 = this.o.now();
    const a = await this.post(api.port, { productId, userId, quantity }, key);
    this.attempts.push({
      t0, t1: this.o.now(), api: api.name, productId, userId, key, quantity, outcome: a.outcome,
      answer: a.body?.status, orderId: a.outcome === 200 ? a.body?.orderId : undefined, replayed: a.replayed || undefined,
    });
    return a;
  }

  private post(port: number, body: object, key: string): Promise<Answer> {
    const data = JSON.stringify(body);
    return new Promise((resolve) => {
      const req = request({
        host: '127.0.0.1', port, method: 'POST', path: '/order', agent: this.agent, timeout: this.o.requestTimeoutMs,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), 'x-idempotency-key': key },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('error', (err) => resolve({ outcome: classifyError(err) }));
        res.on('end', () => {
          let parsed: Answer['body'];
          try {
            parsed = JSON.parse(text) as Answer['body'];
          } catch {
            parsed = undefined;
          }
          const retry = Number(res.headers['retry-after']);
          resolve({ outcome: res.statusCode ?? 0, body: parsed, replayed: res.headers['idempotent-replayed'] === 'true', retryAfterSec: Number.isFinite(retry) ? retry : undefined });
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (err) => resolve({ outcome: classifyError(err) }));
      req.end(data);
    });
  }
}
