// "Does PostgreSQL know this product?" — asked only when Redis has no stock key for it (the rare
// not-seeded path), so a flood of orders for a lost or unknown sale costs one query per product
// per TTL, not one per request. Negative answers are cached too.

export class ProductLookup {
  private readonly cache = new Map<string, { known: boolean; until: number }>();
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(
    private readonly query: (productId: string) => Promise<boolean>,
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  async isKnown(productId: string): Promise<boolean> {
    const now = Date.now();
    const hit = this.cache.get(productId);
    if (hit && hit.until > now) return hit.known;
    let running = this.inFlight.get(productId);
    if (!running) {
      running = this.query(productId).finally(() => this.inFlight.delete(productId));
      this.inFlight.set(productId, running);
    }
    const known = await running;
    if (this.ttlMs > 0) {
      // Bounded: ids of unknown products come from clients; forget everything rather than grow.
      if (this.cache.size >= this.maxEntries) this.cache.clear();
      this.cache.set(productId, { known, until: Date.now() + this.ttlMs });
    }
    return known;
  }

  forget(productId: string): void {
    this.cache.delete(productId);
  }
}
