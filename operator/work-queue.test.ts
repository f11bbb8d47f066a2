import { describe, expect, it } from 'vitest';
import { WorkQueue } from './work-queue.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('WorkQueue', () => {
  it('never runs one key twice at once, and reruns a key changed while in flight', async () => {
    const runs: string[] = [];
    let release!: () => void;
    const q = new WorkQueue(
      async (k) => {
        runs.push(k);
        if (runs.length === 1) await new Promise<void>((r) => (release = r));
        return undefined;
      },
      { concurrency: 2, baseBackoffMs: 1, maxBackoffMs: 10, onError: () => undefined },
    );
    q.start();
    q.add('a');
    await tick();
    q.add('a');
    q.add('a');
    await tick();
    expect(runs).toEqual(['a']);
    release();
    await tick();
    expect(runs).toEqual(['a', 'a']);
    await q.stop();
  });

  it('backs off on failure, doubling, and stops retrying once stopped', async () => {
    const retries: number[] = [];
    const q = new WorkQueue(async () => { throw new Error('boom'); }, {
      concurrency: 1, baseBackoffMs: 2, maxBackoffMs: 8, onError: (_k, _e, ms) => retries.push(ms),
    });
    q.start();
    q.add('a');
    await new Promise((r) => setTimeout(r, 80));
    await q.stop();
    expect(retries.slice(0, 4)).toEqual([2, 4, 8, 8]);
  });

  it('a requeue keeps the earliest deadline', async () => {
    const runs: number[] = [];
    const q = new WorkQueue(async () => { runs.push(Date.now()); return undefined; }, { concurrency: 1, baseBackoffMs: 1, maxBackoffMs: 1, onError: () => undefined });
    q.start();
    q.addAfter('a', 10_000);
    q.addAfter('a', 5);
    await new Promise((r) => setTimeout(r, 40));
    expect(runs.length).toBe(1);
    await q.stop();
  });
});
