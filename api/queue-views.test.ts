// Unit tests of the per-sale poll snapshots (pure logic: a fake reader and a fake clock).
import { describe, expect, it } from 'vitest';
import { parseQueueView, type QueueView } from '../core/redis/queue.js';
import { QueueViews } from './queue-views.js';

const view = (o: Partial<QueueView> = {}): QueueView => ({ ...parseQueueView([1_000_000, 'open', 0, 0, 'queue', 10, 5, 0, 1_000_000, 0, null, '', null]), ...o });

function harness(reads: Array<QueueView | null | Error>) {
  let now = 0;
  const calls: string[] = [];
  const pending: Array<() => void> = [];
  const views = new QueueViews(
    (productId) =>
      new Promise((resolve, reject) => {
        calls.push(productId);
        const r = reads.length ? reads.shift()! : view();
        pending.push(() => (r instanceof Error ? reject(r) : resolve(r)));
      }),
    200,
    () => now,
  );
  const settle = async () => {
    while (pending.length) pending.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  return { views, calls, settle, tick: (ms: number) => (now += ms) };
}

describe('QueueViews', () => {
  it('concurrent polls of a sale share one read; a snapshot older than maxAgeMs is read again', async () => {
    const h = harness([view(), view({ joined: 9 })]);
    const all = Promise.all([h.views.get('p', 1), h.views.get('p', 2), h.views.get('p', 3)]);
    await h.settle();
    expect((await all).map((v) => v!.joined)).toEqual([5, 5, 5]);
    expect(h.calls).toEqual(['p']);
    h.tick(200);
    expect((await h.views.get('p'))!.joined).toBe(5);
    h.tick(1);
    const later = h.views.get('p');
    await h.settle();
    expect((await later)!.joined).toBe(9);
    expect(h.calls).toEqual(['p', 'p']);
  });

  it("Redis's clock moves on with the local one, so the serving counter is recomputed at now", async () => {
    const h = harness([view({ nowMs: 5_000_000 })]);
    const first = h.views.get('p');
    await h.settle();
    expect((await first)!.nowMs).toBe(5_000_000);
    h.tick(150.7);
    expect((await h.views.get('p'))!.nowMs).toBe(5_000_150);
  });

  it('a ticket with a join number beyond the snapshot forces a fresh read (never a false queue_reset)', async () => {
    const h = harness([view({ joined: 5 }), view({ joined: 6 })]);
    const first = h.views.get('p', 5);
    await h.settle();
    await first;
    const newer = h.views.get('p', 6);
    await h.settle();
    expect((await newer)!.joined).toBe(6);
    expect(h.calls).toEqual(['p', 'p']);
  });

  it('a snapshot read before the start is not used past it (the randomized draw counts who joined by then)', async () => {
    const h = harness([view({ nowMs: 1_000_000, startsAtMs: 1_000_100, joined: 5 }), view({ nowMs: 1_000_120, startsAtMs: 1_000_100, joined: 7 })]);
    const first = h.views.get('p');
    await h.settle();
    await first;
    h.tick(50);
    expect((await h.views.get('p'))!.joined).toBe(5);
    h.tick(60);
    const after = h.views.get('p');
    await h.settle();
    expect((await after)!.joined).toBe(7);
    expect(h.calls).toEqual(['p', 'p']);
  });

  it('a sale missing from Redis is not cached, nor is a failed read; an older read never replaces a newer one', async () => {
    const h = harness([null, new Error('down'), view({ nowMs: 2_000_000 }), view({ nowMs: 2_000_050, joined: 8 })]);
    const missing = h.views.get('p');
    await h.settle();
    expect(await missing).toBeNull();
    const failing = expect(h.views.get('p')).rejects.toThrow('down');
    await h.settle();
    await failing;
    const older = h.views.get('p', 0);
    const forced = h.views.get('p', 8); // waits for the shared read (joined 5), then forces its own
    await h.settle();
    await h.settle();
    expect((await older)!.nowMs).toBe(2_000_000);
    expect((await forced)!.joined).toBe(8);
    expect((await h.views.get('p'))!.joined).toBe(8);
    expect(h.calls).toEqual(['p', 'p', 'p', 'p']);
  });

  it('peek answers without waiting exactly when get() would not read: a fresh snapshot holding the join number', async () => {
    const h = harness([view({ nowMs: 1_000_000, startsAtMs: 1_000_300, joined: 5 })]);
    expect(h.views.peek('p')).toBeUndefined(); // nothing read yet
    const first = h.views.get('p');
    await h.settle();
    await first;
    h.tick(100.4); // 100 ms old
    expect(h.views.peek('p', 5)).toEqual(await h.views.get('p', 5));
    expect(h.views.peek('p', 5)!.nowMs).toBe(1_000_100);
    expect(h.views.peek('p', 6)).toBeUndefined(); // joined after the snapshot: get() reads again
    h.tick(99.6);
    expect(h.views.peek('p', 1)).toBeDefined(); // exactly maxAgeMs old
    h.tick(1);
    expect(h.views.peek('p', 1)).toBeUndefined(); // older than maxAgeMs
    expect(h.calls).toEqual(['p']);
  });

  it("peek hands out the snapshot's live view moved to now; what get() returned is never changed by it", async () => {
    const h = harness([view({ nowMs: 3_000_000, joined: 5 })]);
    const first = h.views.get('p');
    await h.settle();
    const got = (await first)!;
    h.tick(40);
    const live = h.views.peek('p')!;
    expect(live.nowMs).toBe(3_000_040);
    h.tick(60);
    expect(h.views.peek('p')).toBe(live); // the same object, moved on: no view allocated per poll
    expect(live.nowMs).toBe(3_000_100);
    expect(got.nowMs).toBe(3_000_000);
    expect((await h.views.get('p'))!.nowMs).toBe(3_000_100);
  });

  it('sales are kept apart', async () => {
    const h = harness([view({ joined: 1 }), view({ joined: 2 })]);
    const both = Promise.all([h.views.get('a'), h.views.get('b')]);
    await h.settle();
    expect((await both).map((v) => v!.joined)).toEqual([1, 2]);
  });
});
