// The layout's import rules, read from the source: arrows point from processes to core/, never back.
// Rules (README "Layout"): core/ imports no process; processes never import each other; the pure
// operator model imports nothing of the operator's shell; production code imports no tool or test;
// nothing imports cli.ts; an e2e suite imports only its own files, e2e/support and tools/.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PROCESSES = ['api', 'worker', 'operator'];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = posix.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : sourceFiles(rel);
    return /\.(ts|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** Repo-relative targets of a file's relative imports (static, dynamic and `export … from`). */
export function relativeImports(file: string, text: string): string[] {
  const specs = [...text.matchAll(/(?:from\s+|import\(\s*)['"](\.[^'"]+)['"]/g)].map((m) => m[1]!);
  return specs.map((s) => posix.normalize(posix.join(posix.dirname(file), s)));
}

const top = (path: string) => path.split('/')[0]!;

/** Why an import from `file` to `target` breaks the layout, or undefined when it is allowed. */
export function violation(file: string, target: string): string | undefined {
  const from = top(file);
  const to = top(target);
  if (target === 'cli.ts' || target === 'cli.js') return 'nothing imports cli.ts';
  if (from === 'core' && (PROCESSES.includes(to) || to === 'tools' || to === 'e2e')) return `core/ imports ${to}/`;
  if (PROCESSES.includes(from)) {
    if (PROCESSES.includes(to) && to !== from) return `process ${from}/ imports process ${to}/`;
    if (to === 'tools' || to === 'e2e') return `production code imports ${to}/`;
  }
  if (file.startsWith('operator/model/') && to === 'operator' && !target.startsWith('operator/model/')) {
    return 'the pure model imports the operator shell';
  }
  if (from === 'e2e') {
    const suite = file.split('/')[1];
    const other = target.split('/')[1];
    if (to === 'e2e' && other !== suite && other !== 'support') return `suite e2e/${suite} imports e2e/${other}`;
  }
  return undefined;
}

describe('import rules', () => {
  it('flags each kind of violation (the checker can fail)', () => {
    expect(violation('core/redis/sale.ts', 'operator/config.ts')).toMatch(/core\/ imports operator/);
    expect(violation('api/app.ts', 'worker/main.ts')).toMatch(/process api/);
    expect(violation('operator/model/decide.ts', 'operator/reconciler.ts')).toMatch(/pure model/);
    expect(violation('worker/main.ts', 'tools/stack/proc.ts')).toMatch(/production code/);
    expect(violation('tools/docs/config-table.ts', 'cli.ts')).toMatch(/cli/);
    expect(violation('e2e/api/orders.test.ts', 'e2e/worker/support.ts')).toMatch(/suite e2e\/api/);
    expect(violation('e2e/api/orders.test.ts', 'e2e/support/wait.ts')).toBeUndefined();
    expect(violation('api/app.ts', 'core/redis/keys.ts')).toBeUndefined();
  });

  it('hold for every source file', () => {
    const files = ['cli.ts', ...['core', ...PROCESSES, 'tools', 'e2e'].flatMap(sourceFiles)];
    const found = files.flatMap((file) =>
      relativeImports(file, readFileSync(join(ROOT, file), 'utf8')).flatMap((target) => {
        const why = violation(file, target);
        return why ? [`${file} -> ${target}: ${why}`] : [];
      }),
    );
    expect(found).toEqual([]);
  });
});
