// Clamps the delay of kafkajs's pending-request check (node_modules, pinned 2.2.4) to at least 1 ms.
// Invariant: no kafkajs timer of ours is armed with a negative delay.
// Why: RequestQueue.scheduleCheckPendingRequests arms setTimeout(throttledUntil - now) with
// throttledUntil = -1 until a broker throttles, i.e. about -1.8e12 ms on every connect; Node 24
// sets such a timer to 1 ms and logs TimeoutNegativeWarning, noise in every pod's log that hides
// real warnings (kafkajs issue #1751, fix unreleased). Node already used 1 ms, so only the warning goes.
import { createRequire } from 'node:module';

/** kafkajs's CHECK_PENDING_REQUESTS_INTERVAL: how often a queue with pending requests is looked at. */
const PENDING_POLL_MS = 10;

/** The delay kafkajs means: until the throttle ends, the poll interval while requests wait, never below 1 ms. */
export function pendingCheckDelay(throttledUntil: number, now: number, pendingCount: number): number {
  const untilThrottleEnds = throttledUntil - now;
  if (untilThrottleEnds > 0) return untilThrottleEnds;
  return pendingCount > 0 ? PENDING_POLL_MS : 1;
}

interface RequestQueueLike {
  throttledUntil: number;
  pending: unknown[];
  throttleCheckTimeoutId: ReturnType<typeof setTimeout> | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}

const CLAMPED = Symbol.for('flux-gate.kafkajs.pendingCheckClamped');

/** Replaces RequestQueue.scheduleCheckPendingRequests with the same logic on a clamped delay; idempotent. */
export function clampKafkajsPendingCheck(): void {
  const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as {
    prototype: RequestQueueLike & { [CLAMPED]?: true };
  };
  const proto = RequestQueue.prototype;
  if (proto[CLAMPED]) return;
  if (typeof proto.scheduleCheckPendingRequests !== 'function')
    throw new Error('kafkajs RequestQueue has no scheduleCheckPendingRequests: core/kafka/pending-check.ts needs updating for this kafkajs');
  proto.scheduleCheckPendingRequests = function (this: RequestQueueLike) {
    if (this.throttleCheckTimeoutId) return; // one check scheduled at a time, as in kafkajs
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    }, pendingCheckDelay(this.throttledUntil, Date.now(), this.pending.length));
  };
  proto[CLAMPED] = true;
}
