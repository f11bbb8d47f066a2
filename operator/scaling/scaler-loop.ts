// Applies the lag scaler to the worker Deployments named by FlashSales: one desired count per
// Deployment (the max over its sales), written through the scale subresource, an Event per change.
// Only a Deployment that opted in and that no HPA or KEDA ScaledObject scales is ever written
// (deployment-guard.ts); a refusal is a WorkersScaled=False reason and one Warning Event.
import type { Logger } from '../../core/logging.js';
import type { Kube } from '../kube/client.js';
import { describeError } from '../kube/client.js';
import type { EventRecorder } from '../kube/events.js';
import { rfc3339 } from '../model/conditions.js';
import { KIND, GROUP, VERSION, type FlashSale, type WorkersView } from '../model/types.js';
import type { LagMonitor } from '../lag-monitor.js';
import type { OperatorMetrics } from '../metrics.js';
import { withDefaults } from '../model/defaults.js';
import { combine, decideScale, recommend, type ScalerMemory } from '../model/lag-scaler.js';
import { DeploymentGuard } from './deployment-guard.js';

export class ScalerLoop {
  private readonly memory = new Map<string, ScalerMemory>();
  /** Latest view per "namespace/deployment", read by the reconciler for the status. */
  readonly views = new Map<string, WorkersView>();
  private readonly guard: DeploymentGuard;

  constructor(
    private readonly kube: Kube,
    private readonly lag: LagMonitor,
    private readonly events: EventRecorder,
    private readonly metrics: OperatorMetrics,
    private readonly logger: Logger,
    private readonly isLeader: () => boolean,
  ) {
    this.guard = new DeploymentGuard(kube);
  }

  /** One pass over every Deployment; returns the keys of Deployments whose view changed. */
  async run(stored: FlashSale[]): Promise<Set<string>> {
    const sales = stored.map(withDefaults);
    const changed = new Set<string>();
    const groups = new Map<string, FlashSale[]>();
    for (const s of sales) {
      if (!s.spec.workers || s.spec.paused || s.metadata.deletionTimestamp) continue;
      const key = `${s.metadata.namespace}/${s.spec.workers.deployment}`;
      groups.set(key, [...(groups.get(key) ?? []), s]);
    }
    for (const key of [...this.memory.keys()]) if (!groups.has(key)) this.memory.delete(key);
    for (const [key, group] of groups) {
      const before = JSON.stringify(this.views.get(key));
      try {
        await this.scaleOne(key, group);
      } catch (e) {
        const [, deployment] = key.split('/');
        this.views.set(key, { deployment: deployment!, error: { reason: 'ScaleFailed', message: describeError(e) } });
        this.logger.warn({ deployment: key, err: describeError(e) }, 'scaling failed');
      }
      if (JSON.stringify(this.views.get(key)) !== before) changed.add(key);
    }
    return changed;
  }

  private async scaleOne(key: string, group: FlashSale[]): Promise<void> {
    const [namespace, deployment] = key.split('/') as [string, string];
    const guard = await this.guard.check(namespace, deployment);
    if (!guard.ok) {
      this.views.set(key, { deployment, error: { reason: guard.reason, message: guard.message } });
      this.memory.delete(key);
      this.metrics.desiredReplicas.remove({ flashsale_namespace: namespace, deployment });
      // A Warning on every pass while refused, as the HPA controller does: the recorder
      // aggregates the repeats into one Event whose count and lastTimestamp say it still holds.
      if (guard.reason !== 'DeploymentNotFound' && this.isLeader()) {
        await this.recordAll(namespace, deployment, guard.uid, group, 'Warning', guard.reason === 'AutoscalerConflict' ? 'AutoscalerConflict' : 'ScalingRefused', guard.message);
      }
      return;
    }
    const current = guard.replicas;
    const reading = this.lag.latest?.ok ? this.lag.latest.reading : this.lag.lastGood;
    const fresh = this.lag.latest?.ok === true;
    const lag = reading && { totalLag: reading.lag.total, partitions: reading.partitions, partitionsWithLag: reading.partitionsWithLag };
    const rec = lag ? combine(group.map((s) => recommend(s.spec.workers!, lag, { recovering: s.status?.phase === 'Recovering' }))) : undefined;
    const stabilizationSeconds = Math.max(...group.map((s) => s.spec.workers!.scaleDownStabilizationSeconds));
    const d = decideScale({ nowMs: Date.now(), current, recommendation: rec, metricsFresh: fresh, stabilizationSeconds, memory: this.memory.get(key) ?? {} });
    this.memory.set(key, d.memory);
    const prevView = this.views.get(key);
    let lastScaleTime = prevView?.lastScaleTime;
    if (d.replicas !== current) {
      if (!this.isLeader()) return; // lost the Lease mid-pass: stop acting at once
      await this.kube.setScale(namespace, deployment, d.replicas);
      lastScaleTime = rfc3339(new Date());
      const direction = d.replicas > current ? 'up' : 'down';
      this.metrics.scalingDecisions.inc({ flashsale_namespace: namespace, deployment, direction });
      const why = `lag ${lag?.totalLag} over ${lag?.partitions} partitions (${lag?.partitionsWithLag} with lag), bound: ${rec?.binding}`;
      const msg = `scaled ${deployment} ${direction} from ${current} to ${d.replicas} replicas: ${why}`;
      this.logger.info({ deployment: key, from: current, to: d.replicas, lag: lag?.totalLag, binding: rec?.binding }, 'scaled workers');
      await this.recordAll(namespace, deployment, guard.uid, group, 'Normal', 'ScaledWorkers', msg);
    }
    this.metrics.desiredReplicas.set({ flashsale_namespace: namespace, deployment }, d.replicas);
    this.views.set(key, {
      deployment,
      replicas: d.replicas,
      desired: rec?.replicas ?? d.replicas,
      cap: d.hold ?? rec?.binding,
      ...(lastScaleTime ? { lastScaleTime } : {}),
    });
  }

  /** The same Event on the Deployment and on every sale naming it. */
  private async recordAll(namespace: string, deployment: string, uid: string | undefined, group: FlashSale[], type: 'Normal' | 'Warning', reason: string, msg: string): Promise<void> {
    await this.events.record({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: deployment, ...(uid ? { uid } : {}) }, type, reason, msg);
    for (const s of group) {
      await this.events.record({ apiVersion: `${GROUP}/${VERSION}`, kind: KIND, namespace, name: s.metadata.name, uid: s.metadata.uid }, type, reason, msg);
    }
  }

  viewFor(sale: FlashSale): WorkersView | undefined {
    if (!sale.spec.workers) return undefined;
    return this.views.get(`${sale.metadata.namespace}/${sale.spec.workers.deployment}`);
  }

  reset(): void {
    this.memory.clear();
    this.views.clear();
  }
}
