// Retrying a batch until it is persisted: exponential backoff with jitter, capped, heartbeating the
// consumer group while waiting so a long PostgreSQL outage does not get this member kicked out.

export interface Backoff {
  minMs: number;
  maxMs: number;
}

/** Delay before retry number `attempt` (1-based): min·2^(attempt−1) capped at max, then "equal jitter" (50–100 %). */
export function backoffDelay(attempt: number, b: Backoff, random: () => number = Math.random): number {
  const exp = Math.min(b.maxMs, b.minMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

export const ABORTED = Symbol('aborted');

export interface RetryOptions {
  backoff: Backoff;
  /** Keeps the group membership alive; throws when the group is rebalancing (then we give the batch up). */
  heartbeat: () => Promise<void>;
  /** True once the process is shutting down: stop retrying, leave the batch uncommitted (it is redelivered). */
  shouldStop: () => boolean;
  onRetry: (err: Error, attempt: number, delayMs: number) => void;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const HEARTBEAT_SLICE_MS = 1_000;

export async function retryUntilDone<T>(op: () => Promise<T>, opts: RetryOptions): Promise<T | typeof ABORTED> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (opts.shouldStop()) return ABORTED;
      const delay = backoffDelay(attempt, opts.backoff, opts.random);
      opts.onRetry(err as Error, attempt, delay);
      for (let waited = 0; waited < delay; waited += HEARTBEAT_SLICE_MS) {
        await sleep(Math.min(HEARTBEAT_SLICE_MS, delay - waited));
        await opts.heartbeat();
        if (opts.shouldStop()) return ABORTED;
      }
    }
  }
}

const HEARTBEAT_EVERY_MS = 1_000;

/**
 * Runs `work` heartbeating in the background: a slow transaction (PostgreSQL under load, a lock
 * held by someone) must not cost the group membership (errors surface at the next heartbeat).
 */
export async function withHeartbeat<T>(heartbeat: () => Promise<void>, work: () => Promise<T>): Promise<T> {
  const keepAlive = setInterval(() => void heartbeat().catch(() => undefined), HEARTBEAT_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(keepAlive);
  }
}
