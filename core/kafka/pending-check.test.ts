// kafkajs 2.2.4 schedules its pending-request check at `throttledUntil - now` with throttledUntil
// = -1 until a broker throttles: a delay of minus the epoch, which Node 24 reports as
// TimeoutNegativeWarning in every pod's log. The delay must never be below 1 ms.
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clampKafkajsPendingCheck, pendingCheckDelay } from './pending-check.js';

describe('pendingCheckDelay', () => {
  const now = 1_800_000_000_000;
  it('waits until the throttle ends when a broker throttles us', () => {
    expect(pendingCheckDelay(now + 250, now, 0)).toBe(250);
    expect(pendingCheckDelay(now + 250, now, 3)).toBe(250);
  });

  it('never asks for a negative or zero delay: never throttled (-1), or the throttle already over', () => {
    expect(pendingCheckDelay(-1, now, 0)).toBe(1);
    expect(pendingCheckDelay(now - 5, now, 0)).toBe(1);
    expect(pendingCheckDelay(now, now, 0)).toBe(1);
  });

  it('polls every 10 ms while requests are pending and nothing throttles (as kafkajs does)', () => {
    expect(pendingCheckDelay(-1, now, 2)).toBe(10);
    expect(pendingCheckDelay(now - 5, now, 1)).toBe(10);
  });
});

describe('kafkajs RequestQueue with the clamp installed', () => {
  afterEach(() => vi.restoreAllMocks());

  it('schedules its pending check with a positive delay on a fresh queue', () => {
    clampKafkajsPendingCheck();
    const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js');
    const logger = { debug() {}, info() {}, warn() {}, error() {}, namespace: () => logger };
    const queue = new RequestQueue({ maxInFlightRequests: 1, requestTimeout: 1000, enforceRequestTimeout: true, clientId: 't', broker: 'b:9092', logger });
    const delays: number[] = [];
    const real = globalThis.setTimeout;
    vi.spyOn(globalThis, 'setTimeout').mockImplementation(((fn: () => void, ms?: number) => {
      delays.push(ms ?? 0);
      return real(() => undefined, 0);
    }) as typeof setTimeout);
    queue.scheduleCheckPendingRequests();
    vi.restoreAllMocks();
    queue.destroy();
    expect(delays).toEqual([1]);
  });
});
