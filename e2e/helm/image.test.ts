// The container image, without a Docker engine (none here): the Dockerfile's structure, the
// build context, and the runtime stage's promise: production dependencies alone run every
// component of dist/. Building and running the image itself needs Docker (see docs/install.md).
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from './chart.js';

const exec = promisify(execFile);

interface Stage {
  from: string;
  name?: string;
  lines: string[];
}

/** FROM-separated stages with their instructions (continuation lines joined). */
function stages(dockerfile: string): Stage[] {
  const out: Stage[] = [];
  const joined = dockerfile.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const line of joined) {
    const from = line.match(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i);
    if (from) out.push({ from: from[1]!, name: from[2], lines: [] });
    else out.at(-1)?.lines.push(line);
  }
  return out;
}

describe('Dockerfile', () => {
  const text = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
  const all = stages(text);
  const runtime = all.at(-1)!;
  const nodeImage = text.match(/^ARG NODE_IMAGE=(\S+)$/m)?.[1];

  it('is multi-stage on Node 24 LTS (slim Debian), the runtime tools/stack/node/image.sh ships too', () => {
    expect(nodeImage).toMatch(/^node:24(\.\d+)*-bookworm-slim$/);
    expect(all.map((s) => s.from)).toEqual(['${NODE_IMAGE}', '${NODE_IMAGE}', '${NODE_IMAGE}']);
  });

  it('builds with the full toolchain: npm ci then npm run build', () => {
    const build = all.find((s) => s.name === 'build')!;
    const runs = build.lines.filter((l) => l.startsWith('RUN'));
    expect(runs[0]).toMatch(/npm ci\b/);
    expect(runs.at(-1)).toBe('RUN npm run build');
  });

  it('ships only production dependencies and dist/', () => {
    const prod = all.find((s) => s.name === 'prod-deps')!;
    expect(prod.lines.join('\n')).toMatch(/npm ci --omit=dev/);
    const copies = runtime.lines.filter((l) => l.startsWith('COPY'));
    expect(copies).toEqual([
      'COPY --from=prod-deps --chown=root:root /app/node_modules ./node_modules',
      'COPY --from=build --chown=root:root /src/dist ./dist',
      'COPY --chown=root:root package.json ./',
    ]);
  });

  it('runs as a numeric non-root user, flux-gate as the entrypoint, the argument picks the component', () => {
    const user = runtime.lines.filter((l) => l.startsWith('USER')).at(-1);
    expect(user).toBe('USER 10001:10001'); // the chart's podSecurityContext.runAsUser
    expect(runtime.lines.filter((l) => l.startsWith('ENTRYPOINT'))).toEqual(['ENTRYPOINT ["node", "dist/cli.js"]']);
    const chartValues = readFileSync(join(REPO, 'helm/flux-gate/values.yaml'), 'utf8');
    expect(chartValues).toMatch(/runAsUser: 10001\n/);
  });

  it('.dockerignore keeps local builds, dependencies, secrets-prone and test files out of the context', () => {
    const ignored = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const p of ['.git', 'node_modules', 'dist', '.stack', 'e2e', '**/*.test.ts']) expect(ignored, p).toContain(p);
    // ... but not what the build stage COPYs.
    for (const p of ['core', 'api', 'worker', 'cli.ts', 'operator', 'scripts', 'package.json', 'package-lock.json', 'tsconfig.json']) expect(ignored, p).not.toContain(p);
  });
});

describe('runtime stage, reproduced in a temp folder', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-image-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('npm ci --omit=dev + dist/ loads every component and prints the CLI help', async () => {
    if (!existsSync(join(REPO, 'dist/cli.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm test does)');
    for (const f of ['package.json', 'package-lock.json']) cpSync(join(REPO, f), join(dir, f));
    cpSync(join(REPO, 'dist'), join(dir, 'dist'), { recursive: true });
    await exec('npm', ['ci', '--omit=dev', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: dir, timeout: 300_000 });
    expect(existsSync(join(dir, 'node_modules/vitest')), 'dev dependency in the runtime').toBe(false);
    expect(existsSync(join(dir, 'node_modules/typescript')), 'dev dependency in the runtime').toBe(false);

    const help = await exec(process.execPath, ['dist/cli.js', '--help'], { cwd: dir });
    for (const cmd of ['api', 'worker', 'operator', 'migrate']) expect(help.stdout).toMatch(new RegExp(`^  ${cmd}\\s`, 'm'));

    // Load (not run) each component's whole import graph with production dependencies only.
    const modules = ['dist/api/main.js', 'dist/worker/main.js', 'dist/operator/main.js', 'dist/core/postgres/migrate-main.js'];
    const script = `for (const m of ${JSON.stringify(modules)}) { const mod = await import('./' + m); if (typeof mod.main !== 'function') throw new Error(m + ' exports no main()'); }`;
    await exec(process.execPath, ['--input-type=module', '-e', script], { cwd: dir });
  });
});
