import { describe, expect, it } from 'vitest';
import { PartitionPipelines } from './pipeline.js';

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('PartitionPipelines', () => {
  it('nothing in flight: nothing to wait for', async () => {
    expect(await new PartitionPipelines().waitPrevious('t|0')).toBeUndefined();
  });

  it('waits for the batch in flight and reports a durable one as fine', async () => {
    const p = new PartitionPipelines();
    const d = deferred<{ durable: boolean }>();
    p.start('t|0', '100', () => d.promise);
    let waited = false;
    const w = p.waitPrevious('t|0').then((r) => ((waited = true), r));
    await Promise.resolve();
    expect(waited).toBe(false);
    d.resolve({ durable: true });
    expect(await w).toBeUndefined();
    expect(p.size).toBe(0);
  });

  it('reports a batch that did not become durable with its first offset (to rewind to)', async () => {
    const p = new PartitionPipelines();
    p.start('t|0', '100', async () => ({ durable: false }));
    expect(await p.waitPrevious('t|0')).toEqual({ firstOffset: '100' });
  });

  it('a job that throws counts as not durable', async () => {
    const p = new PartitionPipelines();
    p.start('t|1', '7', async () => Promise.reject(new Error('rebalancing')));
    expect(await p.waitPrevious('t|1')).toEqual({ firstOffset: '7' });
  });

  it('a failure is reported once, and forgotten after a rebalance', async () => {
    const p = new PartitionPipelines();
    p.start('t|0', '5', async () => ({ durable: false }));
    expect(await p.waitPrevious('t|0')).toEqual({ firstOffset: '5' });
    expect(await p.waitPrevious('t|0')).toBeUndefined();
    await p.start('t|0', '9', async () => ({ durable: false }));
    p.forgetFailures();
    expect(await p.waitPrevious('t|0')).toBeUndefined();
  });

  it('waitForRoom bounds the batches in flight', async () => {
    const p = new PartitionPipelines();
    const a = deferred<{ durable: boolean }>();
    p.start('t|0', '1', () => a.promise);
    p.start('t|1', '1', async () => ({ durable: true }));
    await p.waitForRoom(2); // t|1 finished
    expect(p.size).toBe(1);
    let room = false;
    const w = p.waitForRoom(1).then(() => (room = true));
    await Promise.resolve();
    expect(room).toBe(false);
    a.resolve({ durable: true });
    await w;
    expect(p.size).toBe(0);
  });

  it('partitions are independent; drain waits for all', async () => {
    const p = new PartitionPipelines();
    const a = deferred<{ durable: boolean }>();
    const b = deferred<{ durable: boolean }>();
    p.start('t|0', '1', () => a.promise);
    p.start('t|1', '2', () => b.promise);
    expect(p.size).toBe(2);
    let drained = false;
    const d = p.drain().then(() => (drained = true));
    a.resolve({ durable: true });
    await Promise.resolve();
    expect(drained).toBe(false);
    b.resolve({ durable: true });
    await d;
    expect(drained).toBe(true);
  });

  it('a durable batch frees its partition before its offset commit ends; commits run in batch order; drain waits for them', async () => {
    const p = new PartitionPipelines();
    const order: string[] = [];
    const firstCommit = deferred<void>();
    p.start('t|0', '1', async () => ({ durable: true, commit: async () => {
      order.push('commit 1 start');
      await firstCommit.promise;
      order.push('commit 1 end');
    } }));
    expect(await p.waitPrevious('t|0')).toBeUndefined(); // batch 2 may persist while commit 1 runs
    p.start('t|0', '2', async () => ({ durable: true, commit: async () => void order.push('commit 2') }));
    await p.waitPrevious('t|0');
    let drained = false;
    const d = p.drain().then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(order).toEqual(['commit 1 start']);
    expect(drained).toBe(false);
    firstCommit.resolve();
    await d;
    expect(order).toEqual(['commit 1 start', 'commit 1 end', 'commit 2']);
  });

  it('a failed commit does not stop the next ones', async () => {
    const p = new PartitionPipelines();
    const done: string[] = [];
    p.start('t|0', '1', async () => ({ durable: true, commit: async () => Promise.reject(new Error('coordinator moved')) }));
    p.start('t|0', '2', async () => ({ durable: true, commit: async () => void done.push('2') }));
    await p.drain();
    await p.committed('t|0');
    expect(done).toEqual(['2']);
  });
});
