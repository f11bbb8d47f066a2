// Summarizes a V8 .cpuprofile (BENCH_CPU_PROF): the top frames by self time, and the same
// grouped by package (node_modules/<pkg>, our dist/<dir>, node internals), as a Markdown table.
// Usage: npx tsx tools/bench/profile-top.ts <file.cpuprofile> [top=25]
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: Node[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Self microseconds per node id, from the sample deltas (more exact than hitCount × interval). */
function selfTimes(p: Profile): Map<number, number> {
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i + 1] ?? 0;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
  }
  return self;
}

function where(url: string): string {
  if (!url) return '(native/VM)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const ours = /\/dist\/([^/]+)\//.exec(url);
  if (ours) return `flux-gate ${ours[1]}`;
  if (url.startsWith('node:')) return 'node internals';
  return url.split('/').slice(-2).join('/');
}

function short(url: string): string {
  return url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/').replace(/^file:\/\//, '');
}

export function summarize(p: Profile, top = 25): string {
  const self = selfTimes(p);
  // Idle time (the process waiting on its sockets, or on the other server of a side-by-side case)
  // is not work: percentages are of the busy samples.
  const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  const all = [...self.values()].reduce((a, b) => a + b, 0);
  let total = 0;
  for (const [id, us] of self) if (!idle.has(id)) total += us;
  const byFrame = new Map<string, number>();
  const byPkg = new Map<string, number>();
  for (const n of p.nodes) {
    const us = self.get(n.id) ?? 0;
    if (!us || idle.has(n.id)) continue;
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url ? `${short(f.url)}:${f.lineNumber + 1}` : ''}`.trim();
    byFrame.set(key, (byFrame.get(key) ?? 0) + us);
    byPkg.set(where(f.url), (byPkg.get(where(f.url)) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1)} %`;
  const rows = (m: Map<string, number>, k: number) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, us]) => `| ${pct(us)} | ${name.replace(/\|/g, '\\|')} |`);
  return [
    `profile: ${(total / 1e6).toFixed(2)} s busy of ${(all / 1e6).toFixed(2)} s sampled; percentages are of the busy time`,
    '',
    '| self | by package |',
    '| ---: | --- |',
    ...rows(byPkg, 15),
    '',
    '| self | frame |',
    '| ---: | --- |',
    ...rows(byFrame, top),
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [file, top] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile-top.ts <file.cpuprofile> [top]');
  console.log(summarize(JSON.parse(readFileSync(file, 'utf8')) as Profile, top ? Number(top) : 25));
}
