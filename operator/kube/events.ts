// Kubernetes Events (core/v1) on FlashSales and worker Deployments: what `kubectl describe` shows.
// Invariant: one Event object per (object, type, reason, message); a repeat raises its count and
// lastTimestamp instead of adding an object (what client-go's EventCorrelator does), so a
// condition seen on every poll is one line "x12 over 5m" in `kubectl describe`, not a flood.
// The name is derived from that tuple, so the aggregation also holds across operator restarts
// and leader changes; an expired Event is simply created again. A small cache of the Events this
// process wrote makes a repeat one PATCH (guarded by resourceVersion) instead of create+get+patch.
import { createHash } from 'node:crypto';
import type { Logger } from '../../core/logging.js';
import { describeError, httpStatus, mergePatch, type Kube } from './client.js';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  /** Without it `kubectl describe` (which selects Events by involvedObject.uid) does not show the Event. */
  uid?: string;
}

export const COMPONENT = 'flux-gate-operator';

/** Concurrent bumps of one Event (two sales naming one Deployment) retry on a resourceVersion conflict. */
const BUMP_ATTEMPTS = 3;
/** Events remembered for a direct PATCH; the oldest is forgotten past this (it then costs a GET). */
const KNOWN_MAX = 1000;

interface Known {
  count: number;
  resourceVersion?: string;
}

type EventBody = { count?: number; metadata?: { resourceVersion?: string } };

export function eventName(obj: ObjectRef, type: string, reason: string, message: string): string {
  const h = createHash('sha256').update(JSON.stringify([obj.kind, obj.namespace, obj.name, obj.uid ?? '', type, reason, message])).digest('hex');
  return `${obj.name.slice(0, 200)}.${h.slice(0, 16)}`;
}

export class EventRecorder {
  private readonly known = new Map<string, Known>();

  constructor(
    private readonly kube: Kube,
    private readonly identity: string,
    private readonly logger: Logger,
  ) {}

  /** Best effort: a failed Event is logged, never fails the reconcile. */
  async record(obj: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date();
    const text = message.slice(0, 1024);
    const name = eventName(obj, type, reason, text);
    this.logger.info({ event: { type, reason, object: `${obj.kind}/${obj.namespace}/${obj.name}` } }, message);
    try {
      if (await this.bumpKnown(obj.namespace, name, now)) return;
      try {
        this.remember(name, await this.kube.core.createNamespacedEvent({
          namespace: obj.namespace,
          body: {
            metadata: { name, namespace: obj.namespace },
            involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.namespace, name: obj.name, uid: obj.uid },
            type,
            reason,
            message: text,
            firstTimestamp: now,
            lastTimestamp: now,
            count: 1,
            source: { component: COMPONENT },
            reportingComponent: COMPONENT,
            reportingInstance: this.identity.slice(0, 128),
          },
        }));
      } catch (e) {
        if (httpStatus(e) !== 409) throw e;
        await this.bump(obj.namespace, name, now);
      }
    } catch (e) {
      this.logger.warn({ err: describeError(e), reason }, 'could not record a Kubernetes Event');
    }
  }

  /** A repeat of an Event this process wrote: one PATCH. False when it must be created or read first. */
  private async bumpKnown(namespace: string, name: string, now: Date): Promise<boolean> {
    const k = this.known.get(name);
    if (!k) return false;
    try {
      this.remember(name, await this.patch(namespace, name, k, now));
      return true;
    } catch (e) {
      this.known.delete(name);
      const code = httpStatus(e);
      if (code === 404) return false; // expired: create it again
      if (code !== 409) throw e;
      await this.bump(namespace, name, now); // someone else bumped it meanwhile
      return true;
    }
  }

  /** The same Event again, read first: count + 1 and lastTimestamp now, guarded by its resourceVersion. */
  private async bump(namespace: string, name: string, now: Date): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const ev = await this.kube.core.readNamespacedEvent({ namespace, name });
      try {
        this.remember(name, await this.patch(namespace, name, { count: ev.count ?? 1, resourceVersion: ev.metadata?.resourceVersion }, now));
        return;
      } catch (e) {
        if (httpStatus(e) !== 409 || attempt >= BUMP_ATTEMPTS) throw e;
      }
    }
  }

  private patch(namespace: string, name: string, k: Known, now: Date): Promise<EventBody> {
    const body = { metadata: { resourceVersion: k.resourceVersion }, count: k.count + 1, lastTimestamp: now.toISOString() };
    return this.kube.core.patchNamespacedEvent({ namespace, name, body }, mergePatch);
  }

  private remember(name: string, ev: EventBody): void {
    this.known.delete(name);
    this.known.set(name, { count: ev.count ?? 1, resourceVersion: ev.metadata?.resourceVersion });
    if (this.known.size > KNOWN_MAX) this.known.delete(this.known.keys().next().value!);
  }
}
