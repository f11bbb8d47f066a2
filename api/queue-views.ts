// Per-sale snapshots of the waiting room for GET /queue/:ticket: one Redis read per sale per
// maxAgeMs in this process, shared by every poll of that sale, instead of one read per poll.
// Invariant: an answer is never built from meta-hash counters (joins, rate, expired tokens, sold
// out) older than maxAgeMs; the serving counter, a pure function of Redis's clock, is recomputed at
// "now" (the snapshot's Redis time plus the local time elapsed since it arrived); a ticket newer
// than the snapshot forces a fresh read; admission itself is still decided in Redis (admit()).
import type { QueueView } from '../core/redis/queue.js';

interface Snapshot {
  view: QueueView;
  /** Local monotonic time (ms) when the view arrived; its nowMs is Redis's clock at about then. */
  at: number;
  /** A copy of view that peek() moves to "now" and hands out (no object per poll). */
  live: QueueView;
}

/** Sales are few; bound the map anyway (a flood of unknown sales cannot grow it without end). */
const MAX_SALES = 10_000;

export class QueueViews {
  private readonly snapshots = new Map<string, Snapshot>();
  /** One read in flight per sale: concurrent polls of an expired snapshot wait for the same read. */
  private readonly reading = new Map<string, Promise<QueueView | null>>();

  constructor(
    private readonly read: (productId: string) => Promise<QueueView | null>,
    private readonly maxAgeMs: number,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /**
   * The sale's queue as of now, with at least `joined` places handed out when Redis has them
   * (a ticket's join number: a snapshot read before that join would call the ticket unknown).
   * null = the sale is not in Redis (never cached: recovery is seen on the next poll).
   */
  async get(productId: string, joined = 0): Promise<QueueView | null> {
    let s = this.fresh(productId);
    if (!s) {
      await this.refresh(productId);
      s = this.snapshots.get(productId);
    }
    if (s && s.view.joined < joined) {
      // The ticket joined after the shared read was sent: read again (once) rather than answer queue_reset.
      await this.refresh(productId, true);
      s = this.snapshots.get(productId);
    }
    return s ? this.at(s) : null;
  }

  /**
   * The same view as get(), without waiting: when the sale's snapshot is fresh and already holds
   * `joined` places; undefined when get() would read Redis first. (The hot poll answers from it
   * in the same turn: no promise, no async frame per poll.) The view is the snapshot's own live
   * copy, moved to now: read it in the same turn and never keep or change it (the next peek of
   * the sale moves it on).
   */
  peek(productId: string, joined = 0): Readonly<QueueView> | undefined {
    const s = this.fresh(productId);
    if (!s || s.view.joined < joined) return undefined;
    s.live.nowMs = s.view.nowMs + Math.floor(this.clock() - s.at);
    return s.live;
  }

  /**
   * The snapshot if younger than maxAgeMs and not read before a start that has come since: at the
   * start the randomized places are drawn among those who joined by then, a count a snapshot
   * from before it cannot know (places computed from it would be wrong, and admit() trusts them).
   */
  private fresh(productId: string): Snapshot | undefined {
    const s = this.snapshots.get(productId);
    if (!s) return undefined;
    const age = this.clock() - s.at;
    if (age > this.maxAgeMs) return undefined;
    const { nowMs, startsAtMs } = s.view;
    return nowMs < startsAtMs && nowMs + age >= startsAtMs ? undefined : s;
  }

  /** The snapshot's view with Redis's clock moved on by the local time elapsed since it arrived. */
  private at(s: Snapshot): QueueView {
    return { ...s.view, nowMs: s.view.nowMs + Math.floor(this.clock() - s.at) };
  }

  private refresh(productId: string, force = false): Promise<QueueView | null> {
    const pending = this.reading.get(productId);
    if (pending && !force) return pending;
    const p = this.read(productId)
      .then((view) => {
        const had = this.snapshots.get(productId);
        if (view === null) this.snapshots.delete(productId);
        else if (!had || had.view.nowMs <= view.nowMs) {
          // (A forced read may overtake a shared one: never replace a view with an older one.)
          if (this.snapshots.size >= MAX_SALES && !this.snapshots.has(productId)) this.snapshots.clear();
          this.snapshots.set(productId, { view, at: this.clock(), live: { ...view } });
        }
        return view;
      })
      .finally(() => {
        if (this.reading.get(productId) === p) this.reading.delete(productId);
      });
    this.reading.set(productId, p);
    return p;
  }
}
