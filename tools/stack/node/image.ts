// Puts the Flux-Gate image into the local node's containerd: built from dist/ by image.sh (no
// registry), imported with `ctr images import`. The chart then runs it with pullPolicy Never.
import { execFileSync } from 'node:child_process';
import type { Log } from '../install.js';
import { requireState } from '../state.js';
import { ensureAppArchive } from './artifacts.js';
import { nodeStatus } from './node.js';

export interface ImportedImage {
  /** Full reference, e.g. fluxgate.local/flux-gate:1a2b3c4d5e6f */
  ref: string;
  repository: string;
  tag: string;
  /** Seconds spent building (0 when cached) and importing. */
  seconds: number;
}

function ctrImages(sock: string): string[] {
  return execFileSync('ctr', ['--address', sock, '-n', 'k8s.io', 'images', 'ls', '-q'], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

/** Builds the image if its tag is not cached and imports it into the running node. */
export async function importAppImage(stateDir: string, log: Log): Promise<ImportedImage> {
  const state = requireState(stateDir);
  const node = await nodeStatus(stateDir);
  if (!node.running || !node.record) throw new Error('image: the local node is not running (npm run stack:up -- --node)');
  const t0 = Date.now();
  const { ref, archive } = await ensureAppArchive(state.repoRoot, state.cacheDir, log);
  const sock = node.record.containerdSock;
  if (!ctrImages(sock).includes(ref)) {
    execFileSync('ctr', ['--address', sock, '-n', 'k8s.io', 'images', 'import', archive], { stdio: ['ignore', 'pipe', 'pipe'] });
    if (!ctrImages(sock).includes(ref)) throw new Error(`image: ctr imported ${archive} but ${ref} is not listed (names: ${ctrImages(sock).join(', ')})`);
  }
  const [repository, tag] = ref.split(':') as [string, string];
  return { ref, repository, tag, seconds: Math.round((Date.now() - t0) / 1000) };
}

