// vitest globalSetup of the e2e project: a fresh build, then real services (see provider.ts),
// exported as process.env (inherited by the test workers) and provide()d as `stack`.
import type { TestProject } from 'vitest/node';
import { ensureFreshBuild } from '../../tools/stack/build.js';
import { REPO_ROOT, stackPaths } from '../../tools/stack/paths.js';
import { chooseProvider, needsDockerProbe, probeDocker, SERVICE_VARS, type ProviderKind } from '../../tools/stack/provider.js';
import { deleteTestNamespaces } from './test-namespaces.js';
import { deleteTestTopics } from './test-topics.js';

export interface ProvidedStack {
  provider: ProviderKind;
  vars: Record<string, string>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: ProvidedStack;
  }
}

const log = (line: string) => process.stderr.write(`[e2e setup] ${line}\n`);

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  ensureFreshBuild(REPO_ROOT, log);
  const env = process.env;
  const docker = needsDockerProbe(env) ? await probeDocker(env) : undefined;
  const choice = chooseProvider(env, docker);
  log(`services: ${choice.kind} (${choice.reason})`);

  let vars: Record<string, string>;
  let teardown = async () => undefined as void;
  if (choice.kind === 'env') {
    vars = {};
    for (const name of [...SERVICE_VARS, 'FLUXGATE_STACK_STATE', 'KUBECONFIG']) {
      if (env[name]) vars[name] = env[name]!;
    }
  } else if (choice.kind === 'testcontainers') {
    const { startContainers } = await import('../../tools/stack/testcontainers.js');
    const containers = await startContainers();
    vars = containers.vars;
    teardown = containers.stop;
  } else {
    const { up, down, StackUpError } = await import('../../tools/stack/stack.js');
    const k8s = env.FLUXGATE_STACK_NO_K8S !== '1';
    const res = await up({ k8s, log }).catch(async (err: unknown) => {
      if (err instanceof StackUpError && err.started.length > 0) {
        log(`stopping what this run started before failing: ${err.started.join(', ')}`);
        await down(stackPaths().stateDir, { only: err.started, log }).catch(() => undefined);
      }
      throw err;
    });
    vars = { ...res.env.vars };
    if (res.env.pathPrepend) env.PATH = `${res.env.pathPrepend}:${env.PATH ?? ''}`;
    // Stop only what this run started; a stack someone brought up stays up.
    if (res.started.length > 0) {
      log(`will stop after the tests: ${res.started.join(', ')}`);
      teardown = () => down(res.state.stateDir, { only: res.started, log });
    }
  }
  Object.assign(env, vars);
  project.provide('stack', { provider: choice.kind, vars });
  return async () => {
    await deleteTestNamespaces(log);
    await deleteTestTopics(log);
    await teardown();
  };
}
