// Leader election on a coordination.k8s.io/v1 Lease, the client-go way: optimistic updates with
// resourceVersion (a 409 means someone else won), expiry judged on the LOCAL clock from when this
// process last saw the record change (so clock skew between nodes does not matter), and a leader
// that cannot renew within the renew deadline stops acting at once, before the Lease can expire.
import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../../core/logging.js';
import { describeError, httpStatus, type Kube } from './client.js';

export interface LeaseTimings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface LeaseRecord {
  holder: string | undefined;
  renewTime: string | undefined;
  leaseDurationSeconds: number | undefined;
  transitions: number;
}

export type LeaseStep = 'renew' | 'acquire' | 'wait';

/** Pure: what to do with the Lease as last read. */
export function leaseStep(
  record: LeaseRecord,
  me: string,
  observed: { key: string; atMs: number } | undefined,
  nowMs: number,
  defaultDurationMs: number,
): LeaseStep {
  if (record.holder === me) return 'renew';
  if (!record.holder) return 'acquire'; // released on a clean shutdown
  const duration = (record.leaseDurationSeconds ?? defaultDurationMs / 1000) * 1000;
  const key = `${record.holder}|${record.renewTime}`;
  // Expired only if the record has not moved for a whole lease duration, as seen by this process.
  if (observed && observed.key === key && nowMs - observed.atMs >= duration) return 'acquire';
  return 'wait';
}

export interface LeaderCallbacks {
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

export class LeaderElector {
  private leading = false;
  private lastRenewMs = 0;
  private observed: { key: string; atMs: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly kube: Kube,
    private readonly namespace: string,
    private readonly name: string,
    readonly identity: string,
    private readonly t: LeaseTimings,
    private readonly cb: LeaderCallbacks,
    private readonly logger: Logger,
  ) {}

  isLeader(): boolean {
    // Checked before every write: a leader past its renew deadline is no longer one, even if the
    // renew loop has not noticed yet (event loop stalls).
    return this.leading && Date.now() - this.lastRenewMs < this.t.renewDeadlineMs;
  }

  start(): void {
    this.stopped = false;
    void this.tick();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), this.t.retryPeriodMs);
  }

  private async tick(): Promise<void> {
    try {
      await this.tryAcquireOrRenew();
    } catch (e) {
      this.logger.warn({ err: describeError(e), lease: `${this.namespace}/${this.name}` }, 'lease update failed');
    }
    if (this.leading && Date.now() - this.lastRenewMs >= this.t.renewDeadlineMs) this.lose('could not renew the lease within the renew deadline');
    this.schedule();
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = new Date();
    let lease: V1Lease;
    try {
      lease = await this.kube.coordination.readNamespacedLease({ namespace: this.namespace, name: this.name });
    } catch (e) {
      if (httpStatus(e) !== 404) throw e;
      try {
        await this.kube.coordination.createNamespacedLease({
          namespace: this.namespace,
          body: {
            metadata: { name: this.name, namespace: this.namespace },
            spec: this.spec(now, new V1MicroTime(now.getTime()), 0),
          },
        });
        this.win(now, 'created the lease');
      } catch (ce) {
        if (httpStatus(ce) !== 409) throw ce; // 409: another replica created it first
      }
      return;
    }
    const record: LeaseRecord = {
      holder: lease.spec?.holderIdentity,
      renewTime: lease.spec?.renewTime ? String(lease.spec.renewTime as unknown) : undefined,
      leaseDurationSeconds: lease.spec?.leaseDurationSeconds,
      transitions: lease.spec?.leaseTransitions ?? 0,
    };
    const key = `${record.holder}|${record.renewTime}`;
    if (this.observed?.key !== key) this.observed = { key, atMs: now.getTime() };
    const step = leaseStep(record, this.identity, this.observed, now.getTime(), this.t.leaseDurationMs);
    if (step === 'wait') {
      if (this.leading) this.lose(`lease taken by ${record.holder}`);
      return;
    }
    // Read back, MicroTime fields stay the API's own strings (client-node does not parse them).
    const acquireTime: V1MicroTime | string = step === 'renew' && lease.spec?.acquireTime ? (lease.spec.acquireTime as unknown as string) : new V1MicroTime(now.getTime());
    const transitions = step === 'acquire' ? record.transitions + 1 : record.transitions;
    try {
      await this.kube.coordination.replaceNamespacedLease({
        namespace: this.namespace,
        name: this.name,
        body: { metadata: { ...lease.metadata, name: this.name, namespace: this.namespace }, spec: this.spec(now, acquireTime, transitions) },
      });
    } catch (e) {
      if (httpStatus(e) === 409) return; // someone else moved it first; judged on the next read
      throw e;
    }
    this.win(now, step === 'acquire' ? `took over the lease from ${record.holder ?? 'nobody'}` : 'renewed');
  }

  private spec(now: Date, acquireTime: V1MicroTime | string, transitions: number) {
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.t.leaseDurationMs / 1000),
      acquireTime: acquireTime as V1MicroTime,
      renewTime: new V1MicroTime(now.getTime()),
      leaseTransitions: transitions,
    };
  }

  private win(now: Date, how: string): void {
    this.lastRenewMs = now.getTime();
    if (!this.leading) {
      this.leading = true;
      this.logger.info({ lease: `${this.namespace}/${this.name}`, identity: this.identity, how }, 'became the leader');
      this.cb.onStartedLeading();
    }
  }

  private lose(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.logger.warn({ lease: `${this.namespace}/${this.name}`, identity: this.identity, why }, 'lost the leadership: stopped acting');
    this.cb.onStoppedLeading();
  }

  /** Stops the loop; a leader releases the Lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.leading) {
      this.leading = false;
      this.cb.onStoppedLeading();
    }
    // Release what the apiserver says is ours, whatever this process last believed: after a late
    // renewal it may think it lost the Lease while still holding it, and a standby would then wait
    // for the whole Lease duration. The read-then-replace (resourceVersion) never clobbers a newer holder.
    // A renewal still in flight can bump the resourceVersion under us (409): read again, try again.
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const lease = await this.kube.coordination.readNamespacedLease({ namespace: this.namespace, name: this.name });
        if (lease.spec?.holderIdentity !== this.identity) return;
        await this.kube.coordination.replaceNamespacedLease({
          namespace: this.namespace,
          name: this.name,
          body: { ...lease, spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: new V1MicroTime(Date.now()) } },
        });
        this.logger.info({ lease: `${this.namespace}/${this.name}` }, 'released the lease');
        return;
      } catch (e) {
        if (httpStatus(e) === 409 && attempt < 3) continue;
        this.logger.warn({ err: describeError(e) }, 'could not release the lease (a standby takes over when it expires)');
        return;
      }
    }
  }
}
