// Honest docs: every repository file, link and `npm run` command the Markdown docs cite exists.
// Invariant: a path in backticks that starts with one of the repository's own top-level folders,
// and every relative Markdown link, names something in the tree (globs must match at least one
// file); every `npm run <script>` is a script in package.json. Generated output (git-ignored
// folders) is exempt, since it exists only after a run.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(new URL(import.meta.url).pathname), '..', '..');
const TOP = new Set(readdirSync(ROOT).filter((n) => !n.startsWith('.') && !['node_modules', 'dist'].includes(n)));
/** Folders the docs may cite that only a run creates (all git-ignored). */
const GENERATED = ['tools/bench/results/', '.chaos/', '.stack/', 'dist/'];

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (n.startsWith('.') || n === 'node_modules' || n === 'dist') return [];
    if (statSync(p).isDirectory()) return markdownFiles(p);
    return n.endsWith('.md') ? [p] : [];
  });
}

/** True when `pattern` (relative to the root, `*` within one segment) names at least one entry. */
function exists(pattern: string): boolean {
  if (!pattern.includes('*')) return existsSync(join(ROOT, pattern));
  const segments = pattern.split('/').filter(Boolean);
  let found = [ROOT];
  for (const seg of segments) {
    const re = new RegExp(`^${seg.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    found = found.flatMap((d) => (existsSync(d) && statSync(d).isDirectory() ? readdirSync(d).filter((n) => re.test(n)).map((n) => join(d, n)) : []));
  }
  return found.length > 0;
}

/** Repository paths cited in backticks: first segment a top-level folder or file of this repo. */
function citedPaths(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/`([A-Za-z0-9_.*/-]+)`/g)) {
    const p = m[1]!.replace(/^\.\//, '');
    const first = p.split('/')[0]!;
    if (!p.includes('/') || !TOP.has(first) || p.includes('<')) continue;
    if (GENERATED.some((g) => p.startsWith(g))) continue;
    out.add(p.replace(/[.,:;]+$/, ''));
  }
  return [...out];
}

const docs = markdownFiles(ROOT);
const scripts = Object.keys(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts ?? {});

describe('docs cite only what exists', () => {
  it('finds the docs', () => {
    expect(docs.map((d) => relative(ROOT, d))).toContain('README.md');
  });

  for (const doc of docs) {
    const name = relative(ROOT, doc);
    const text = readFileSync(doc, 'utf8');
    it(`${name}: every cited repository path exists`, () => {
      expect(citedPaths(text).filter((p) => !exists(p))).toEqual([]);
    });
    it(`${name}: every relative link resolves`, () => {
      const links = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!.split('#')[0]!).filter((l) => l && !/^[a-z]+:/i.test(l));
      const broken = links.filter((l) => !GENERATED.some((g) => relative(ROOT, join(dirname(doc), l)).startsWith(g)) && !existsSync(join(dirname(doc), l)));
      expect(broken).toEqual([]);
    });
    it(`${name}: every \`npm run\` names a package.json script`, () => {
      const used = [...text.matchAll(/npm run (?:-s )?([a-z][a-z0-9:-]*)/g)].map((m) => m[1]!);
      expect(used.filter((s) => !scripts.includes(s))).toEqual([]);
    });
  }
});
