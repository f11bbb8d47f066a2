// Kubernetes Events (core/v1) on FlashSales and worker Deployments: what `kubectl describe` shows.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../core/logging.js';
import { describeError, type Kube } from './client.js';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

export const COMPONENT = 'flux-gate-operator';

export class EventRecorder {
  constructor(
    private readonly kube: Kube,
    private readonly identity: string,
    private readonly logger: Logger,
  ) {}

  /** Best effort: a failed Event is logged, never fails the reconcile. */
  async record(obj: ObjectRef, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date();
    this.logger.info({ event: { type, reason, object: `${obj.kind}/${obj.namespace}/${obj.name}` } }, message);
    try {
      await this.kube.core.createNamespacedEvent({
        namespace: obj.namespace,
        body: {
          metadata: { name: `${obj.name}.${now.getTime().toString(16)}${randomBytes(3).toString('hex')}`, namespace: obj.namespace },
          involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.namespace, name: obj.name, uid: obj.uid },
          type,
          reason,
          message: message.slice(0, 1024),
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
          source: { component: COMPONENT },
          reportingComponent: COMPONENT,
          reportingInstance: this.identity.slice(0, 128),
        },
      });
    } catch (e) {
      this.logger.warn({ err: describeError(e), reason }, 'could not record a Kubernetes Event');
    }
  }
}
