// staleReason on the repository's real layout: dist/cli.js from cli.ts, api/, worker/, operator/, core/.
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { staleReason } from './build.js';

const roots: string[] = [];
afterEach(() => { for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true }); });

/** A repo with sources at t=1000 s and dist/cli.js built at t=2000 s. */
function repo(): string {
  const root = mkdtempSync(join(tmpdir(), 'fg-build-'));
  roots.push(root);
  for (const f of ['cli.ts', 'package.json', 'api/app.ts', 'worker/main.ts', 'operator/main.ts', 'core/redis/lua/reserve.lua', 'api/app.test.ts', 'dist/cli.js']) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), '');
    const t = f.startsWith('dist/') ? 2000 : 1000;
    utimesSync(join(root, f), t, t);
  }
  return root;
}

const touch = (root: string, f: string) => utimesSync(join(root, f), 3000, 3000);

describe('staleReason', () => {
  it('is fresh when dist/cli.js is newer than every source (no rebuild on each run)', () => {
    expect(staleReason(repo())).toBeUndefined();
  });

  it.each(['cli.ts', 'api/app.ts', 'worker/main.ts', 'operator/main.ts', 'core/redis/lua/reserve.lua', 'package.json'])('is stale when %s changed after the build', (f) => {
    const root = repo();
    touch(root, f);
    expect(staleReason(root)).toBe('sources changed since the last build');
  });

  it('ignores tests, and says when dist/cli.js is missing', () => {
    const root = repo();
    touch(root, 'api/app.test.ts');
    expect(staleReason(root)).toBeUndefined();
    rmSync(join(root, 'dist/cli.js'));
    expect(staleReason(root)).toBe('dist/cli.js is missing');
  });
});
