// Namespaces the e2e suite creates in the local control plane carry E2E_NAMESPACE_LABEL, and the
// suite's global teardown deletes them: the operator tests' Deployments have pods that wait for a
// node, and left behind, the cluster suite's node would start them all (seen: 9 pods retrying
// their sandboxes through that whole suite).
import { dirname } from 'node:path';
import { controlPlaneStatus } from '../../tools/stack/controlplane.js';
import { runTool } from '../../tools/stack/kube.js';

export const E2E_NAMESPACE_LABEL = 'fluxgate.io/e2e';

/** Deletes every labelled namespace in the background, saying how many; a failure is logged, not thrown. */
export async function deleteTestNamespaces(log: (line: string) => void, kubeconfig = process.env.KUBECONFIG): Promise<void> {
  if (!kubeconfig) return;
  try {
    const cp = await controlPlaneStatus(dirname(kubeconfig));
    if (!cp.running || !cp.binDir) return;
    const out = await runTool(cp.binDir, 'kubectl', ['delete', 'namespace', '-l', E2E_NAMESPACE_LABEL, '--wait=false', '--ignore-not-found'], { kubeconfig });
    const n = out.split('\n').filter(Boolean).length;
    if (n > 0) log(`deleting the ${n} namespaces the e2e tests created (label ${E2E_NAMESPACE_LABEL})`);
  } catch (err) {
    log(`could not delete the e2e tests' namespaces: ${(err as Error).message.split('\n')[0]}`);
  }
}
