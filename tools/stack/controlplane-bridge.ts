// The Kubernetes control plane (etcd + kube-apiserver) lives in controlplane.ts, owned by the
// control-plane engineer. This bridge loads it when it exists, so the stack works without it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Log } from './install.js';

export interface ControlPlaneModule {
  controlPlaneUp(o: {
    cacheDir: string;
    stateDir: string;
    ports: { etcd: number; etcdPeer: number; apiserver: number };
    log: Log;
  }): Promise<{ kubeconfig: string; binDir: string }>;
  controlPlaneDown(stateDir: string): Promise<void>;
  controlPlaneStatus(stateDir: string): Promise<{ running: boolean; kubeconfig?: string; binDir?: string }>;
}

export async function loadControlPlane(): Promise<ControlPlaneModule | undefined> {
  if (!existsSync(fileURLToPath(new URL('./controlplane.ts', import.meta.url)))) return undefined;
  const specifier = './controlplane.js'; // a variable: the file may not exist when this compiles
  const mod = (await import(specifier)) as Partial<ControlPlaneModule>;
  for (const fn of ['controlPlaneUp', 'controlPlaneDown', 'controlPlaneStatus'] as const) {
    if (typeof mod[fn] !== 'function') throw new Error(`tools/stack/controlplane.ts does not export ${fn}()`);
  }
  return mod as ControlPlaneModule;
}
