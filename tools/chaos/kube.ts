// The chaos run's Kubernetes side: a namespace of its own on the stack's kube-apiserver, the
// operator's least-privilege identity (deploy/rbac, a ServiceAccount token, never admin), and the
// FlashSales, applied, patched and deleted with kubectl as an SRE would.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { controlPlaneStatus } from '../stack/controlplane.js';
import { kubeconfigForToken, runTool, tokenFor } from '../stack/kube.js';

const CRD_FILE = fileURLToPath(new URL('../../crds/flashsale.yaml', import.meta.url));
const RBAC_FILE = fileURLToPath(new URL('../../deploy/rbac/operator-clusterrole.yaml', import.meta.url));
export const LEASE_NAME = 'flux-gate-operator';

export interface SaleDef {
  name: string;
  productId: string;
  stock: number;
  perUser: number;
  paused: boolean;
}

export class Kube {
  private constructor(readonly ns: string, private readonly binDir: string, private readonly admin: string) {}

  /** Needs the stack's control plane (npm run stack:up); creates a fresh namespace. */
  static async connect(stateDir: string): Promise<Kube> {
    const s = await controlPlaneStatus(stateDir);
    if (!s.running || !s.binDir || !s.kubeconfig) throw new Error('the control plane of the local stack is not running: npm run stack:up');
    const k = new Kube(`chaos-${randomBytes(3).toString('hex')}`, s.binDir, s.kubeconfig);
    await k.kubectl(['apply', '-f', CRD_FILE]);
    await k.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/flashsales.fluxgate.io']);
    await k.kubectl(['create', 'namespace', k.ns]);
    return k;
  }

  kubectl(args: string[], input?: string, kubeconfig = this.admin): Promise<string> {
    return runTool(this.binDir, 'kubectl', args, { kubeconfig, input });
  }

  /** A kubeconfig with the operator ServiceAccount's token, bound to the chart's ClusterRole and Lease Role. */
  async operatorKubeconfig(): Promise<string> {
    const ns = this.ns;
    await this.kubectl(['apply', '-n', ns, '-f', RBAC_FILE]);
    await this.kubectl(['create', 'serviceaccount', 'flux-gate-operator', '-n', ns]);
    await this.kubectl(['create', 'rolebinding', 'flux-gate-operator', '-n', ns, '--clusterrole=flux-gate-operator', `--serviceaccount=${ns}:flux-gate-operator`]);
    await this.kubectl(['create', 'rolebinding', 'flux-gate-operator-leader-election', '-n', ns, '--role=flux-gate-operator-leader-election', `--serviceaccount=${ns}:flux-gate-operator`]);
    const token = await tokenFor('flux-gate-operator', ns, { kubeconfig: this.admin, expirationSeconds: 4 * 3600 });
    return kubeconfigForToken(token, { kubeconfig: this.admin, user: `system:serviceaccount:${ns}:flux-gate-operator` });
  }

  applySale(s: SaleDef): Promise<string> {
    const doc = {
      apiVersion: 'fluxgate.io/v1alpha1',
      kind: 'FlashSale',
      metadata: { name: s.name },
      spec: { productId: s.productId, stock: s.stock, limits: { perUser: s.perUser }, paused: s.paused },
    };
    return this.kubectl(['apply', '-n', this.ns, '-f', '-'], JSON.stringify(doc));
  }

  patchSale(name: string, spec: Record<string, unknown>): Promise<string> {
    return this.kubectl(['patch', 'flashsale', name, '-n', this.ns, '--type=merge', '-p', JSON.stringify({ spec })]);
  }

  /** Deletes and waits until the finalizer let it go (bounded). */
  deleteSale(name: string): Promise<string> {
    return this.kubectl(['delete', 'flashsale', name, '-n', this.ns, '--wait=true', '--timeout=60s']);
  }

  async saleStatus(name: string): Promise<{ phase?: string; conditions?: Array<{ type: string; status: string }> } | undefined> {
    try {
      return (JSON.parse(await this.kubectl(['get', 'flashsale', name, '-n', this.ns, '-o', 'json'])) as { status?: { phase?: string } }).status;
    } catch {
      return undefined;
    }
  }

  async leaseHolder(): Promise<string | undefined> {
    try {
      const lease = JSON.parse(await this.kubectl(['get', 'lease', LEASE_NAME, '-n', this.ns, '-o', 'json'])) as { spec: { holderIdentity?: string } };
      return lease.spec.holderIdentity;
    } catch {
      return undefined;
    }
  }

  /** Removes the namespace (and its FlashSales: the operators must still run to release finalizers). */
  async cleanup(): Promise<void> {
    await this.kubectl(['delete', 'namespace', this.ns, '--wait=false']).catch(() => undefined);
  }
}
