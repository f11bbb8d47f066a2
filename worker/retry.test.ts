import { describe, expect, it } from 'vitest';
import { ABORTED, backoffDelay, retryUntilDone } from './retry.js';

const b = { minMs: 100, maxMs: 5000 };

describe('backoffDelay', () => {
  it('doubles from min and caps at max; jitter spans 50–100 %', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((a) => backoffDelay(a, b, () => 1))).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    expect([1, 2, 7].map((a) => backoffDelay(a, b, () => 0))).toEqual([50, 100, 2500]);
    expect(backoffDelay(1000, b, () => 1)).toBe(5000);
  });
});

describe('retryUntilDone', () => {
  it('retries until the operation succeeds, heartbeating while it waits', async () => {
    let calls = 0;
    const slept: number[] = [];
    let heartbeats = 0;
    const retries: number[] = [];
    const out = await retryUntilDone(
      async () => {
        if (++calls < 4) throw new Error('connection refused');
        return 'ok';
      },
      {
        backoff: { minMs: 1000, maxMs: 2500 },
        heartbeat: async () => void heartbeats++,
        shouldStop: () => false,
        onRetry: (_e, attempt) => retries.push(attempt),
        sleep: async (ms) => void slept.push(ms),
        random: () => 1,
      },
    );
    expect(out).toBe('ok');
    expect(calls).toBe(4);
    expect(retries).toEqual([1, 2, 3]);
    // delays 1000, 2000, 2500 cut in slices of at most 1 s, one heartbeat per slice
    expect(slept).toEqual([1000, 1000, 1000, 1000, 1000, 500]);
    expect(heartbeats).toBe(6);
  });

  it('gives up without retrying when the consumer is stopping', async () => {
    let stop = false;
    let calls = 0;
    const out = await retryUntilDone(
      async () => {
        calls++;
        stop = true;
        throw new Error('down');
      },
      { backoff: b, heartbeat: async () => {}, shouldStop: () => stop, onRetry: () => {}, sleep: async () => {} },
    );
    expect(out).toBe(ABORTED);
    expect(calls).toBe(1);
  });

  it('propagates a heartbeat failure (rebalance): the batch is abandoned uncommitted', async () => {
    await expect(
      retryUntilDone(async () => Promise.reject(new Error('down')), {
        backoff: b,
        heartbeat: async () => Promise.reject(new Error('The group is rebalancing')),
        shouldStop: () => false,
        onRetry: () => {},
        sleep: async () => {},
      }),
    ).rejects.toThrow('rebalancing');
  });
});
