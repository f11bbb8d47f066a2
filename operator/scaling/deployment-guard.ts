// May the operator scale this Deployment? Only one that opted in (the chart's worker does), and
// only while no other autoscaler (an HPA, or a KEDA ScaledObject) targets it: two controllers
// writing one replicas field fight, each undoing the other every few seconds.
// Invariant: any doubt refuses (a failed check is a refusal, never a pass), except a missing KEDA
// API group, which only means KEDA is not installed.
import { AutoscalingV2Api } from '@kubernetes/client-node';
import { describeError, httpStatus, type Kube } from '../kube/client.js';

/** The opt-in marker: the chart's worker Deployment carries it; any other Deployment is left alone. */
export const OPT_IN_ANNOTATION = 'fluxgate.io/replicas-owner';
export const OPT_IN_VALUE = 'operator';

const KEDA = { group: 'keda.sh', version: 'v1alpha1', plural: 'scaledobjects' } as const;

export type GuardResult =
  | { ok: true; uid?: string; replicas: number }
  | { ok: false; reason: 'DeploymentNotFound' | 'NotOptedIn' | 'AutoscalerConflict' | 'AutoscalerCheckFailed'; message: string; uid?: string };

interface TargetRef {
  apiVersion?: string;
  kind?: string;
  name?: string;
}

/** A scaleTargetRef names a Deployment when its kind is Deployment (KEDA's default) in group apps. */
function targets(ref: TargetRef | undefined, deployment: string): boolean {
  if (!ref || ref.name !== deployment) return false;
  const kind = ref.kind ?? 'Deployment';
  const group = (ref.apiVersion ?? 'apps/v1').split('/')[0];
  return kind === 'Deployment' && (group === 'apps' || group === 'extensions');
}

export class DeploymentGuard {
  private readonly autoscaling: AutoscalingV2Api;

  constructor(private readonly kube: Kube) {
    this.autoscaling = kube.kc.makeApiClient(AutoscalingV2Api);
  }

  async check(namespace: string, deployment: string): Promise<GuardResult> {
    let d;
    try {
      d = await this.kube.apps.readNamespacedDeployment({ namespace, name: deployment });
    } catch (e) {
      if (httpStatus(e) === 404) return { ok: false, reason: 'DeploymentNotFound', message: `no Deployment ${namespace}/${deployment} to scale` };
      throw e;
    }
    const uid = d.metadata?.uid;
    if (d.metadata?.annotations?.[OPT_IN_ANNOTATION] !== OPT_IN_VALUE) {
      return {
        ok: false, reason: 'NotOptedIn', uid,
        message: `Deployment ${deployment} has not opted in to scaling by Flux-Gate (annotation ${OPT_IN_ANNOTATION}: "${OPT_IN_VALUE}"): its replicas are left alone`,
      };
    }
    let others: string[];
    try {
      others = await this.autoscalersOf(namespace, deployment);
    } catch (e) {
      return { ok: false, reason: 'AutoscalerCheckFailed', uid, message: `cannot check whether an HPA or KEDA ScaledObject targets Deployment ${deployment}, not scaling it: ${describeError(e)}` };
    }
    if (others.length > 0) {
      return {
        ok: false, reason: 'AutoscalerConflict', uid,
        message: `${others.join(', ')} already scales Deployment ${deployment}: Flux-Gate leaves its replicas to it (remove spec.workers or that autoscaler)`,
      };
    }
    return { ok: true, uid, replicas: d.spec?.replicas ?? 0 };
  }

  /** HPAs and KEDA ScaledObjects in the namespace whose scaleTargetRef is this Deployment. */
  private async autoscalersOf(namespace: string, deployment: string): Promise<string[]> {
    const hpas = await this.autoscaling.listNamespacedHorizontalPodAutoscaler({ namespace });
    const found = hpas.items.filter((h) => targets(h.spec?.scaleTargetRef, deployment)).map((h) => `HorizontalPodAutoscaler ${h.metadata?.name}`);
    try {
      const sos = (await this.kube.custom.listNamespacedCustomObject({ ...KEDA, namespace })) as { items?: Array<{ metadata?: { name?: string }; spec?: { scaleTargetRef?: TargetRef } }> };
      for (const so of sos.items ?? []) if (targets(so.spec?.scaleTargetRef, deployment)) found.push(`KEDA ScaledObject ${so.metadata?.name}`);
    } catch (e) {
      if (httpStatus(e) !== 404) throw e; // 404: the keda.sh API group is not installed
    }
    return found;
  }
}
