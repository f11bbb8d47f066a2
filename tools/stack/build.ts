// The e2e tests spawn the built CLI (dist/cli.js): rebuild when any source is newer.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// Everything tsc compiles or copy-assets copies into dist/ (cli.ts is a file; tests are left out).
const SOURCE_DIRS = ['cli.ts', 'api', 'worker', 'operator', 'core'];
const BUILD_INPUTS = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/copy-assets.mjs'];

function newestMtime(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return path.endsWith('.test.ts') ? 0 : st.mtimeMs;
  let newest = 0;
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules') continue;
    newest = Math.max(newest, newestMtime(join(path, entry)));
  }
  return newest;
}

/** Why dist must be rebuilt, or undefined when it is fresh. */
export function staleReason(repoRoot: string): string | undefined {
  const cli = join(repoRoot, 'dist', 'cli.js');
  if (!existsSync(cli)) return 'dist/cli.js is missing';
  const built = statSync(cli).mtimeMs;
  const newest = Math.max(...[...SOURCE_DIRS, ...BUILD_INPUTS].map((p) => newestMtime(join(repoRoot, p))));
  return newest > built ? 'sources changed since the last build' : undefined;
}

export function ensureFreshBuild(repoRoot: string, log: (line: string) => void): void {
  const reason = staleReason(repoRoot);
  if (!reason) return;
  if (process.env.FLUXGATE_SKIP_BUILD === '1') {
    log(`NOT rebuilding although ${reason} (FLUXGATE_SKIP_BUILD=1): the tests run the existing dist/`);
    return;
  }
  log(`building (${reason}): npm run build`);
  const res = spawnSync('npm', ['run', 'build'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (res.status !== 0) {
    throw new Error(`npm run build failed (exit ${res.status}); the e2e tests need a fresh dist/ (FLUXGATE_SKIP_BUILD=1 runs them on the existing one):\n${(res.stdout + res.stderr).slice(-4000)}`);
  }
}
