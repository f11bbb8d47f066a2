// The operator's view of Redis, through the shared sale module (core/redis/sale.ts owns the
// key names and scripts; this file only adds the two atomic steps the operator needs on top).
import type { FluxRedis, RedisClient } from '../../core/redis/client.js';
import { saleKeys } from '../../core/redis/keys.js';
import { closeGate, deleteSaleKeys, openGate, readSaleState, seedSale } from '../../core/redis/sale.js';
import type { RedisSale, SeedSettings } from '../model/types.js';

export class RedisSales {
  /** WATCH is per connection: optimistic transactions on `tx` must never interleave. */
  private txChain: Promise<unknown> = Promise.resolve();

  /**
   * @param redis shared client (auto-pipelined)
   * @param tx a dedicated connection without auto-pipelining, for WATCH/MULTI
   */
  constructor(
    private readonly redis: FluxRedis,
    private readonly tx: RedisClient,
  ) {}

  /** run_id changes when Redis restarts or a replica is promoted: that is how restarts are detected. */
  async runId(): Promise<string> {
    const info = await this.redis.info('server');
    const m = /^run_id:([0-9a-f]+)/m.exec(info);
    if (!m) throw new Error('INFO server has no run_id');
    return m[1]!;
  }

  async read(productId: string): Promise<RedisSale> {
    const s = await readSaleState(this.redis, productId);
    const gate = s.state === 'open' || s.state === 'recovering' || s.state === 'paused' ? s.state : null;
    return {
      stock: s.stock,
      // readSaleState reports a missing epoch key as 0; seeds start at 1.
      epoch: s.epoch > 0 ? s.epoch : null,
      gate,
      initialStock: s.initialStock,
      perUserLimit: s.perUserLimit,
      rateLimitPerSecond: s.rateLimitPerSecond,
      startsAtMs: s.startsAt ? s.startsAt.getTime() : null,
      endsAtMs: s.endsAt ? s.endsAt.getTime() : null,
    };
  }

  /** Seeds (seed.lua via seedSale) with an epoch of at least minEpoch; returns the new epoch. */
  async seed(s: SeedSettings): Promise<number> {
    if (s.minEpoch > 1) {
      // An epoch key lost with Redis restarts at 0; lift it so the seed's INCR lands above every
      // epoch an API pod may still hold. Only called with the gate closed, so nothing races it.
      const k = saleKeys(s.productId).epoch;
      const cur = Number((await this.redis.get(k)) ?? 0);
      if (cur < s.minEpoch - 1) await this.redis.set(k, String(s.minEpoch - 1));
    }
    return seedSale(
      this.redis,
      {
        productId: s.productId,
        stock: s.stock,
        initialStock: s.initialStock,
        perUserLimit: s.perUserLimit,
        rateLimitPerSecond: s.rateLimitPerSecond,
        startsAt: s.startsAtMs ? new Date(s.startsAtMs) : null,
        endsAt: s.endsAtMs ? new Date(s.endsAtMs) : null,
      },
      { gate: s.gate },
    );
  }

  /**
   * Adds (to − from) units once: only if the meta hash still says the allocation is `from`.
   * WATCH on meta only (reservations never touch it), so selling goes on meanwhile; INCRBY
   * commutes with their DECRBYs. Returns false when it was already applied or the state moved.
   */
  raiseStock(productId: string, from: number, to: number): Promise<boolean> {
    return this.serial(() => this.raiseStockNow(productId, from, to));
  }

  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.txChain.then(f, f);
    this.txChain = run.catch(() => undefined);
    return run;
  }

  private async raiseStockNow(productId: string, from: number, to: number): Promise<boolean> {
    const k = saleKeys(productId);
    await this.tx.watch(k.meta);
    try {
      const [current, stockExists] = await Promise.all([this.tx.hget(k.meta, 'initialStock'), this.tx.exists(k.stock)]);
      if (current === null || Number(current) !== from || stockExists === 0) {
        await this.tx.unwatch();
        return false;
      }
      const res = await this.tx.multi().incrby(k.stock, to - from).hset(k.meta, 'initialStock', String(to)).exec();
      return res !== null;
    } catch (e) {
      await this.tx.unwatch().catch(() => undefined);
      throw e;
    }
  }

  /** Updates limits and window in place (same fields and encoding as seed.lua), never the stock. */
  configure(productId: string, c: { perUserLimit: number | null; rateLimitPerSecond: number | null; startsAtMs: number | null; endsAtMs: number | null }): Promise<void> {
    return this.serial(async () => {
      const k = saleKeys(productId);
      await this.tx.watch(k.meta);
      if ((await this.tx.exists(k.meta)) === 0) {
        await this.tx.unwatch();
        return; // not seeded: the next seed writes the whole config
      }
      await this.tx
        .multi()
        .hset(k.meta, 'startsAt', String(c.startsAtMs ?? 0), 'endsAt', String(c.endsAtMs ?? 0), 'rateLimit', String(c.rateLimitPerSecond ?? 0), 'perUserLimit', String(c.perUserLimit ?? 0))
        .exec();
    });
  }

  /** Of these products, those whose stock key is gone (FLUSHALL, restart without persistence). */
  async missingStock(productIds: string[]): Promise<Set<string>> {
    // One EXISTS per sale (auto-pipelined): a multi-key pipeline would cross slots on a Cluster.
    const found = await Promise.all(productIds.map((id) => this.redis.exists(saleKeys(id).stock)));
    return new Set(productIds.filter((_, i) => found[i] === 0));
  }

  closeGate(productId: string, state: 'recovering' | 'paused'): Promise<void> {
    return closeGate(this.redis, productId, state);
  }

  openGate(productId: string): Promise<boolean> {
    return openGate(this.redis, productId);
  }

  deleteKeys(productId: string): Promise<number> {
    return deleteSaleKeys(this.redis, productId);
  }
}
