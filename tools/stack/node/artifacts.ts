// What the local node needs on disk, built once per machine into the shared cache and keyed by
// content hash: Debian packages (runc, containerd, CNI plugins, iptables, OCI tools), the node
// binaries built from Go modules (kubelet, kube-scheduler, kube-proxy, CoreDNS, pause), the pause
// sandbox image and the Flux-Gate app image (tools/stack/node/image.sh).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePackages, run, which, type Log, type Requirement } from '../install.js';
import { withLock } from '../proc.js';

const TOOLS_DIR = fileURLToPath(new URL('../k8s-tools/', import.meta.url));
const IMAGE_SH = fileURLToPath(new URL('./image.sh', import.meta.url));
export const NODE_BINARIES = ['kubelet', 'kube-scheduler', 'kube-proxy', 'coredns', 'pause'] as const;

const pkg = (binary: string, aptPackage: string, path?: string): Requirement => ({
  what: binary,
  present: () => (path ? existsSync(path) : which(binary) !== undefined),
  aptPackage,
});

/** Debian packages of the node; containerd 1.6.20 is the last line a 1.36 kubelet still accepts. */
export const NODE_PACKAGES: Requirement[] = [
  pkg('runc', 'runc', '/usr/sbin/runc'),
  pkg('containerd', 'containerd'),
  pkg('CNI plugins', 'containernetworking-plugins', '/usr/lib/cni/bridge'),
  pkg('iptables', 'iptables', '/usr/sbin/iptables'),
  pkg('conntrack', 'conntrack', '/usr/sbin/conntrack'),
  pkg('mmdebstrap', 'mmdebstrap'),
  pkg('umoci', 'umoci'),
  pkg('skopeo', 'skopeo'),
];

export const ensureNodePackages = (cacheDir: string, log: Log) => ensurePackages(cacheDir, log, NODE_PACKAGES);

function hashFiles(files: string[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(f).update('\0').update(readFileSync(f)).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** Cache key of the node binaries: the build script and every go.mod/go.sum/source it builds. */
export function nodeBinariesKey(): string {
  return hashFiles(['build-node.sh', 'node/go.mod', 'node/go.sum', 'node/pause/main.go', 'coredns/go.mod', 'coredns/go.sum', 'coredns/main.go', 'kube/go.mod']
    .map((f) => join(TOOLS_DIR, f)));
}

/** The folder of the node binaries, built on a cache miss (warm Go caches from the control plane build). */
export async function ensureNodeBinaries(cacheDir: string, log: Log): Promise<string> {
  const binDir = join(cacheDir, 'k8s-node-bin', nodeBinariesKey());
  const complete = () => NODE_BINARIES.every((b) => existsSync(join(binDir, b)));
  if (complete()) return binDir;
  mkdirSync(join(cacheDir, 'k8s-node-bin'), { recursive: true });
  // One Go build per machine: a second stack waits for the first one's binaries.
  return withLock(`${binDir}.lock`, 90 * 60_000, 'node binaries build', async () => {
    if (complete()) return binDir;
    const buildLog = `${binDir}.build.log`;
    log(`node: building kubelet, kube-scheduler, kube-proxy, CoreDNS, pause from Go modules into ${binDir} (log ${buildLog})`);
    const t0 = Date.now();
    const env = { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/local/go/bin` };
    await run('bash', [join(TOOLS_DIR, 'build-node.sh'), binDir], buildLog, { env });
    if (!complete()) throw new Error(`node: build finished but binaries are missing in ${binDir}; see ${buildLog}`);
    log(`node: binaries built in ${Math.round((Date.now() - t0) / 1000)} s`);
    return binDir;
  });
}

/** An OCI image holding only the pause binary, as a docker-archive for `ctr images import`. */
export async function ensurePauseArchive(cacheDir: string, binDir: string, log: Log): Promise<{ ref: string; archive: string }> {
  const key = hashFiles([join(binDir, 'pause')]);
  const ref = `fluxgate.local/pause:${key}`;
  const dir = join(cacheDir, 'image', `pause-${key}`);
  const archive = join(dir, 'pause.tar');
  if (existsSync(archive)) return { ref, archive };
  return withLock(`${dir}.lock`, 10 * 60_000, 'pause image build', async () => {
    if (existsSync(archive)) return { ref, archive };
    mkdirSync(join(dir, 'layer'), { recursive: true });
    const logFile = join(dir, 'build.log');
    log(`node: building the pause sandbox image ${ref}`);
    await run('install', ['-D', '-m', '0755', join(binDir, 'pause'), join(dir, 'layer', 'pause')], logFile);
    await run('tar', ['--owner=0', '--group=0', '-C', join(dir, 'layer'), '-cf', join(dir, 'layer.tar'), 'pause'], logFile);
    const oci = join(dir, 'oci');
    await run('umoci', ['init', '--layout', oci], logFile);
    await run('umoci', ['new', '--image', `${oci}:pause`], logFile);
    await run('umoci', ['raw', 'add-layer', '--image', `${oci}:pause`, join(dir, 'layer.tar')], logFile);
    await run('umoci', ['config', '--image', `${oci}:pause`, '--config.entrypoint', '/pause', '--config.user', '65535:65535'], logFile);
    await run('skopeo', ['copy', '--quiet', `oci:${oci}:pause`, `docker-archive:${archive}.tmp:${ref}`], logFile);
    await run('mv', [`${archive}.tmp`, archive], logFile);
    return { ref, archive };
  });
}

/** Every file under dir, sorted (the image tag must not depend on readdir order). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]))
    .sort();
}

/** The app image's tag: a hash of what goes in (dist/ contents, the lockfile, the image recipe),
 * so a rebuild of the same sources reuses the image and any change rolls the pods. */
export function appImageRef(repoRoot: string): string {
  const dist = join(repoRoot, 'dist');
  if (!existsSync(join(dist, 'cli.js'))) throw new Error(`no ${dist}/cli.js: run \`npm run build\` first`);
  const h = createHash('sha256');
  h.update(readFileSync(IMAGE_SH)).update(readFileSync(join(repoRoot, 'package-lock.json')));
  for (const f of filesUnder(dist)) h.update(f.slice(dist.length)).update('\0').update(readFileSync(f));
  return `fluxgate.local/flux-gate:${h.digest('hex').slice(0, 12)}`;
}

/** Each app archive is ~330 MB: keep the newest `keep` (other checkouts rebuild theirs on demand). */
function pruneAppArchives(dir: string, keep: number): void {
  const archives = readdirSync(dir)
    .filter((f) => /^app-[0-9a-f]+\.tar$/.test(f))
    .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of archives.slice(keep)) rmSync(join(dir, f), { force: true });
}

/** Builds the Flux-Gate image (cached by tag) and returns its docker-archive. */
export async function ensureAppArchive(repoRoot: string, cacheDir: string, log: Log): Promise<{ ref: string; archive: string; seconds: number }> {
  const ref = appImageRef(repoRoot);
  const archive = join(cacheDir, 'image', `app-${ref.split(':')[1]}.tar`);
  if (existsSync(archive)) return { ref, archive, seconds: 0 };
  const t0 = Date.now();
  const logFile = join(cacheDir, 'image', 'build.log');
  mkdirSync(join(cacheDir, 'image'), { recursive: true });
  log(`image: building ${ref} (Debian rootfs + node + dist/ + production node_modules; log ${logFile})`);
  await withLock(join(cacheDir, 'image', 'build.lock'), 20 * 60_000, 'image build', () =>
    run('bash', [IMAGE_SH, repoRoot, cacheDir, ref, archive], logFile));
  const seconds = Math.round((Date.now() - t0) / 1000);
  log(`image: ${ref} built in ${seconds} s`);
  pruneAppArchives(join(cacheDir, 'image'), 3);
  return { ref, archive, seconds };
}
