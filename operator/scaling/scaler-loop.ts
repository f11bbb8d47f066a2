// Applies the lag scaler to the worker Deployments named by FlashSales: one desired count per
// Deployment (the max over its sales), written through the scale subresource, an Event per change.
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

export class ScalerLoop {
  private readonly memory = new Map<string, ScalerMemory>();
  /** Latest view per "namespace/deployment", read by the reconciler for the status. */
  readonly views = new Map<string, WorkersView>();

  constructor(
    private readonly kube: Kube,
    private readonly lag: LagMonitor,
    private readonly events: EventRecorder,
    private readonly metrics: OperatorMetrics,
    private readonly logger: Logger,
    private readonly isLeader: () => boolean,
  ) {}

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
    const current = await this.kube.readScale(namespace, deployment);
    if (current === undefined) {
      this.views.set(key, { deployment, error: { reason: 'DeploymentNotFound', message: `no Deployment ${key} to scale` } });
      return;
    }
    const reading = this.lag.latest?.ok ? this.lag.latest.reading : this.lag.lastGood;
    const fresh = this.lag.latest?.ok === true;
    const lag = reading && { totalLag: reading.lag.total, partitions: reading.partitions, partitionsWithLag: reading.partitionsWithLag };
    const rec = lag ? combine(group.map((s) => recommend(s.spec.workers!, lag))) : undefined;
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
      this.metrics.scalingDecisions.inc({ namespace, deployment, direction });
      const why = `lag ${lag?.totalLag} over ${lag?.partitions} partitions (${lag?.partitionsWithLag} with lag), bound: ${rec?.binding}`;
      const msg = `scaled ${deployment} ${direction} from ${current} to ${d.replicas} replicas: ${why}`;
      this.logger.info({ deployment: key, from: current, to: d.replicas, lag: lag?.totalLag, binding: rec?.binding }, 'scaled workers');
      await this.events.record({ apiVersion: 'apps/v1', kind: 'Deployment', namespace, name: deployment }, 'Normal', 'ScaledWorkers', msg);
      for (const s of group) {
        await this.events.record(
          { apiVersion: `${GROUP}/${VERSION}`, kind: KIND, namespace, name: s.metadata.name, uid: s.metadata.uid },
          'Normal', 'ScaledWorkers', msg,
        );
      }
    }
    this.metrics.desiredReplicas.set({ namespace, deployment }, d.replicas);
    this.views.set(key, {
      deployment,
      replicas: d.replicas,
      desired: rec?.replicas ?? d.replicas,
      cap: d.hold ?? rec?.binding,
      ...(lastScaleTime ? { lastScaleTime } : {}),
    });
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
