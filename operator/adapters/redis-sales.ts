// The operator's view of Redis, through the shared sale module (core/redis/sale.ts owns the
// key names, the meta hash and the scripts; this file adapts them to the model's types).
import type { FluxRedis, RedisClient } from '../../core/redis/client.js';
import { countReservationsInFlight } from '../../core/redis/in-flight.js';
import { saleKeys } from '../../core/redis/keys.js';
import { isQueued, pollQueue, queueFigures } from '../../core/redis/queue.js';
import { closeGate, configureSale, deleteSaleKeys, openGate, raiseSaleStock, readSaleState, saleNode, seedSale, type SaleNode, type AdmissionSettings } from '../../core/redis/sale.js';
import type { StoredKeyHolder } from '../../core/redis/reserve.js';
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

  /**
   * The node that holds the sale: its run_id changes when it restarts or a replica is promoted,
   * which is how restarts are detected, and `fenced` says the sale was seeded on another node (or
   * term). On a Cluster each master has its own run_id, so it must be the master of the sale's
   * slot, never whichever node a keyless INFO reaches.
   */
  node(productId: string): Promise<SaleNode> {
    return saleNode(this.redis, productId);
  }

  /** node() of each sale (one auto-pipelined script call per sale, each routed to its node). */
  async nodes(productIds: string[]): Promise<Map<string, SaleNode>> {
    const nodes = await Promise.all(productIds.map((id) => this.node(id)));
    return new Map(productIds.map((id, i) => [id, nodes[i]!]));
  }

  async read(productId: string): Promise<RedisSale> {
    const s = await readSaleState(this.redis, productId);
    // The queue's figures are a function of Redis's clock: read them from Redis (one key).
    const view = isQueued(s.admission.mode) ? await pollQueue(this.redis, productId) : null;
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
      admission: s.admission,
      ...(view ? { queue: queueFigures(view) } : {}),
    };
  }

  /**
   * Seeds (seed.lua via seedSale) at an epoch of at least minEpoch; returns the new epoch. Refused
   * (StaleSeed) when Redis's epoch is no longer expectEpoch: a deposed leader's late seed.
   */
  seed(s: SeedSettings, userUnits?: ReadonlyMap<string, number>, keyHolders?: ReadonlyArray<StoredKeyHolder>): Promise<number> {
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
        admission: s.admission,
        userUnits,
        keyHolders,
      },
      { gate: s.gate, expectEpoch: s.expectEpoch, minEpoch: s.minEpoch },
    );
  }

  /** Adds (to − from) units once (see raiseSaleStock); false when already applied or raced. */
  raiseStock(productId: string, from: number, to: number): Promise<boolean> {
    return this.serial(() => raiseSaleStock(this.tx, productId, from, to));
  }

  /** Updates limits and window in place (see configureSale), never the stock. */
  async configure(
    productId: string,
    c: { perUserLimit: number | null; rateLimitPerSecond: number | null; startsAtMs: number | null; endsAtMs: number | null; admission?: AdmissionSettings },
  ): Promise<void> {
    await this.serial(() =>
      configureSale(this.tx, productId, {
        perUserLimit: c.perUserLimit,
        rateLimitPerSecond: c.rateLimitPerSecond,
        startsAt: c.startsAtMs ? new Date(c.startsAtMs) : null,
        endsAt: c.endsAtMs ? new Date(c.endsAtMs) : null,
        admission: c.admission,
      }),
    );
  }

  /** WATCH is per connection: one transaction at a time on `tx`. */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.txChain.then(f, f);
    this.txChain = run.catch(() => undefined);
    return run;
  }

  /** Of these products, those whose stock key is gone (FLUSHALL, restart without persistence). */
  async missingStock(productIds: string[]): Promise<Set<string>> {
    // One EXISTS per sale (auto-pipelined): a multi-key pipeline would cross slots on a Cluster.
    const found = await Promise.all(productIds.map((id) => this.redis.exists(saleKeys(id).stock)));
    return new Set(productIds.filter((_, i) => found[i] === 0));
  }

  /** Reservations not yet durable in Kafka, younger than maxAgeMs (see countReservationsInFlight). */
  reservationsInFlight(productId: string, maxAgeMs: number): Promise<number> {
    return countReservationsInFlight(this.redis, productId, maxAgeMs);
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
