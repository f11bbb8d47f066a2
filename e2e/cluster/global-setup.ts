// vitest globalSetup of the cluster suite: a fresh build, the local stack WITH its node, and the
// Flux-Gate image built from dist/ and imported into the node. Fails loudly (never skips) when
// the node cannot come up: the error names the component and its log.
import type { TestProject } from 'vitest/node';
import { ensureFreshBuild } from '../../tools/stack/build.js';
import { importAppImage } from '../../tools/stack/node/image.js';
import { nodeLeftovers } from '../../tools/stack/node/node.js';
import { REPO_ROOT, stackPaths } from '../../tools/stack/paths.js';
import { down, StackUpError, up } from '../../tools/stack/stack.js';

export interface ProvidedCluster {
  /** The control plane's kubectl and helm. */
  binDir: string;
  image: { repository: string; tag: string };
  nodeIp: string;
  /** Address pods dial for the stack's services (DNATed to 127.0.0.1 on the host). */
  hostIp: string;
  ports: { redis: number; postgres: number; kafkaNode: number };
  databaseUrl: string;
  timings: { stackUpSeconds: number; imageSeconds: number };
}

declare module 'vitest' {
  export interface ProvidedContext {
    cluster: ProvidedCluster;
  }
}

const log = (line: string) => process.stderr.write(`[cluster setup] ${line}\n`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  ensureFreshBuild(REPO_ROOT, log);
  const t0 = Date.now();
  const res = await up({ k8s: true, node: true, log }).catch(async (err: unknown) => {
    if (err instanceof StackUpError && err.started.length > 0) {
      log(`stopping what this run started before failing: ${err.started.join(', ')}`);
      await down(stackPaths().stateDir, { only: err.started, log }).catch(() => undefined);
    }
    throw err;
  });
  const stackUpSeconds = Math.round((Date.now() - t0) / 1000);
  const teardown = async () => {
    if (res.started.length === 0) return;
    log(`stopping what this run started: ${res.started.join(', ')}`);
    await down(res.state.stateDir, { only: res.started, log });
    // stack:down must leave no container, mount, cgroup, veth, netns or iptables chain behind.
    const left = res.started.includes('node') ? nodeLeftovers(res.state) : [];
    if (left.length > 0) throw new Error(`the node left these behind after stack:down: ${left.join('; ')}`);
  };
  try {
    const image = await importAppImage(res.state.stateDir, log);
    Object.assign(process.env, res.env.vars);
    if (res.env.pathPrepend) process.env.PATH = `${res.env.pathPrepend}:${process.env.PATH ?? ''}`;
    const v = res.env.vars;
    if (!v.FLUXGATE_NODE_IP || !v.FLUXGATE_NODE_HOST_IP || !res.env.pathPrepend) throw new Error('the stack reports no running node or control plane');
    project.provide('cluster', {
      binDir: res.env.pathPrepend,
      image: { repository: image.repository, tag: image.tag },
      nodeIp: v.FLUXGATE_NODE_IP,
      hostIp: v.FLUXGATE_NODE_HOST_IP,
      ports: { redis: res.state.ports.redis, postgres: res.state.ports.postgres, kafkaNode: res.state.ports.kafkaNode },
      databaseUrl: v.DATABASE_URL!,
      timings: { stackUpSeconds, imageSeconds: image.seconds },
    });
    log(`node ${v.FLUXGATE_NODE_NAME} (${v.FLUXGATE_NODE_IP}) up; image ${image.ref} (${image.seconds} s); stack up took ${stackUpSeconds} s`);
  } catch (err) {
    await teardown().catch(() => undefined);
    throw err;
  }
  return teardown;
}
