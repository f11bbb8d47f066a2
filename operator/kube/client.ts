// Kubernetes API glue: one KubeConfig, typed helpers for the few calls the operator makes.
// client-node 1.x: every call takes one object; CRD patches need an explicit content type.
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION, type FlashSale, type FlashSaleStatus } from '../model/types.js';

export function loadKubeConfig(kubeconfigPath: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromCluster();
  return kc;
}

export const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export function httpStatus(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e?.code === 'number') return e.code;
  if (typeof e?.statusCode === 'number') return e.statusCode;
  return undefined;
}

/** A short, readable reason for logs and conditions (the API's own message when there is one). */
export function describeError(err: unknown): string {
  if (err instanceof ApiException) {
    const body = err.body as unknown;
    let msg: string | undefined;
    if (typeof body === 'string') {
      try {
        msg = (JSON.parse(body) as { message?: string }).message;
      } catch {
        msg = body.slice(0, 300);
      }
    } else if (body && typeof body === 'object') msg = (body as { message?: string }).message;
    return `HTTP ${err.code}: ${msg ?? err.message.split('\n')[0]}`;
  }
  return err instanceof Error ? err.message : String(err);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The JSON merge patch (RFC 7386) that turns `prev` into `next`: keys absent from `next` become null. */
export function replacingMergePatch(prev: unknown, next: unknown): unknown {
  if (!isPlainObject(prev) || !isPlainObject(next)) return next;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(next)) if (v !== undefined) out[k] = replacingMergePatch(prev[k], v);
  for (const k of Object.keys(prev)) if (next[k] === undefined) out[k] = null;
  return out;
}

export class Kube {
  readonly custom: CustomObjectsApi;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly coordination: CoordinationV1Api;

  constructor(readonly kc: KubeConfig) {
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.core = kc.makeApiClient(CoreV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.coordination = kc.makeApiClient(CoordinationV1Api);
  }

  async getFlashSale(namespace: string, name: string): Promise<FlashSale | undefined> {
    try {
      return (await this.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace, name })) as FlashSale;
    } catch (e) {
      if (httpStatus(e) === 404) return undefined;
      throw e;
    }
  }

  listFlashSales(namespace: string | undefined): Promise<{ items: FlashSale[]; metadata?: { resourceVersion?: string } }> {
    return namespace
      ? this.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: PLURAL, namespace })
      : this.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL });
  }

  /** Replaces the finalizer list; resourceVersion makes it fail (409) if the object moved meanwhile. */
  async setFinalizers(sale: FlashSale, finalizers: string[]): Promise<FlashSale> {
    const { namespace, name, resourceVersion } = sale.metadata;
    return (await this.custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body: { metadata: { finalizers, resourceVersion } } },
      mergePatch,
    )) as FlashSale;
  }

  /**
   * Writes the status subresource so that it equals `status`: lists (conditions) are replaced as a
   * whole, and a field the stored status has but `status` lacks is deleted (sent as null), so no
   * stale figure outlives the state that produced it.
   */
  async patchStatus(sale: FlashSale, status: FlashSaleStatus): Promise<FlashSale> {
    const { namespace, name, resourceVersion } = sale.metadata;
    const body = { metadata: { resourceVersion }, status: replacingMergePatch(sale.status ?? {}, status) };
    return (await this.custom.patchNamespacedCustomObjectStatus(
      { group: GROUP, version: VERSION, plural: PLURAL, namespace, name, body },
      mergePatch,
    )) as FlashSale;
  }

  async readScale(namespace: string, name: string): Promise<number | undefined> {
    try {
      const s = await this.apps.readNamespacedDeploymentScale({ namespace, name });
      return s.spec?.replicas ?? 0;
    } catch (e) {
      if (httpStatus(e) === 404) return undefined;
      throw e;
    }
  }

  async setScale(namespace: string, name: string, replicas: number): Promise<void> {
    await this.apps.patchNamespacedDeploymentScale(
      { namespace, name, body: { spec: { replicas } }, fieldManager: 'flux-gate-operator' },
      mergePatch,
    );
  }
}
