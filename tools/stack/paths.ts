// Where the local stack keeps things: downloads are shared by every checkout in the cache folder,
// state (ports, pids, logs, data) lives per stack under <cache>/stacks/<stack-id>/.
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StackPaths {
  repoRoot: string;
  cacheDir: string;
  stackId: string;
  stateDir: string;
}

export const REPO_ROOT = realpathSync(fileURLToPath(new URL('../..', import.meta.url)));

const STACK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/;

/** FLUXGATE_STACK_ID, or a short hash of the repo root so two clones never share a stack. */
export function stackIdFor(env: NodeJS.ProcessEnv, repoRoot: string): string {
  const explicit = env.FLUXGATE_STACK_ID;
  if (explicit !== undefined && explicit !== '') {
    if (!STACK_ID_PATTERN.test(explicit)) {
      throw new Error(
        `FLUXGATE_STACK_ID=${JSON.stringify(explicit)} is not a valid stack id: use 1-40 characters of letters, digits, "_", "." or "-", starting with a letter or digit`,
      );
    }
    return explicit;
  }
  return 'r' + createHash('sha256').update(repoRoot).digest('hex').slice(0, 10);
}

export function cacheDirFor(env: NodeJS.ProcessEnv): string {
  const dir = env.FLUXGATE_CACHE_DIR;
  return dir !== undefined && dir !== '' ? dir : join(homedir(), '.cache', 'flux-gate');
}

export function stackPaths(env: NodeJS.ProcessEnv = process.env, repoRoot = REPO_ROOT): StackPaths {
  const cacheDir = cacheDirFor(env);
  const stackId = stackIdFor(env, repoRoot);
  return { repoRoot, cacheDir, stackId, stateDir: join(cacheDir, 'stacks', stackId) };
}
