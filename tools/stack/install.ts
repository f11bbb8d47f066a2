// Installs what the stack needs and the machine lacks: Debian packages (redis-server, postgresql,
// Java, Maven, promtool) through apt-get, and the Kafka broker jars through Maven into the shared cache.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tailFile, withLock } from './proc.js';

export type Log = (line: string) => void;

/** Runs a command to completion, output appended to logFile; throws with the log tail on failure. */
export function run(
  command: string,
  args: string[],
  logFile: string,
  opts: { env?: NodeJS.ProcessEnv; uid?: number; gid?: number } = {},
): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = openSync(logFile, 'a');
    writeFileSync(out, `\n=== ${new Date().toISOString()} ${command} ${args.join(' ')}\n`);
    const child = spawn(command, args, { env: opts.env ?? process.env, uid: opts.uid, gid: opts.gid, stdio: ['ignore', out, out] });
    closeSync(out);
    child.once('error', (err) => reject(new Error(`${command} could not start: ${err.message}`)));
    child.once('exit', (code, sig) => {
      if (code === 0) return resolve();
      reject(new Error(`\`${command} ${args.join(' ')}\` failed (${sig ?? `exit ${code}`}); log ${logFile}:\n${tailFile(logFile, 30)}`));
    });
  });
}

export function which(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, binary))) return join(dir, binary);
  }
  return undefined;
}

/** Highest PostgreSQL server installed by Debian's packages, e.g. /usr/lib/postgresql/15/bin. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'postgres')) && existsSync(join(root, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], 'bin');
}

export function javaBinary(): string | undefined {
  const home = process.env.JAVA_HOME;
  if (home && existsSync(join(home, 'bin', 'java'))) return join(home, 'bin', 'java');
  return which('java');
}

export interface Requirement {
  what: string;
  present: () => boolean;
  aptPackage: string;
}

const REQUIREMENTS: Requirement[] = [
  { what: 'redis-server', present: () => which('redis-server') !== undefined, aptPackage: 'redis-server' },
  { what: 'PostgreSQL server', present: () => postgresBinDir() !== undefined, aptPackage: 'postgresql' },
  { what: 'Java 17+', present: () => javaBinary() !== undefined, aptPackage: 'openjdk-17-jre-headless' },
  { what: 'Maven', present: () => which('mvn') !== undefined, aptPackage: 'maven' },
  // promtool evaluates the chart's alert rules against recorded series (e2e/helm/alerts.test.ts).
  { what: 'promtool', present: () => which('promtool') !== undefined, aptPackage: 'prometheus' },
  // The waiting page is tested in headless Chromium (e2e/api/waiting-room.test.ts); packages are
  // installed without recommends, so a font comes explicitly (the page renders text).
  { what: 'Chromium', present: () => existsSync('/usr/bin/chromium'), aptPackage: 'chromium' },
  { what: 'a font for Chromium', present: () => existsSync('/usr/share/fonts/truetype/dejavu'), aptPackage: 'fonts-dejavu-core' },
];

/** Installs missing Debian packages (non-interactive). Services the packages would start are kept off. */
export async function ensurePackages(cacheDir: string, log: Log, requirements: Requirement[] = REQUIREMENTS): Promise<void> {
  const missing = requirements.filter((r) => !r.present());
  if (missing.length === 0) return;
  const names = missing.map((r) => r.aptPackage);
  if (process.getuid?.() !== 0) {
    throw new Error(`missing ${missing.map((r) => r.what).join(', ')}: install with \`sudo apt-get install -y ${names.join(' ')}\` and retry`);
  }
  mkdirSync(join(cacheDir, 'locks'), { recursive: true });
  const logFile = join(cacheDir, 'apt.log');
  await withLock(join(cacheDir, 'locks', 'apt.lock'), 15 * 60_000, 'apt-get install', async () => {
    const still = requirements.filter((r) => !r.present()).map((r) => r.aptPackage);
    if (still.length === 0) return;
    log(`installing Debian packages: ${still.join(' ')} (log ${logFile})`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive', NEEDRESTART_MODE: 'a' };
    // Keep packages from starting system-wide services (a stray redis on :6379 or the "main"
    // PostgreSQL cluster): invoke-rc.d asks policy-rc.d, and 101 means "not allowed".
    const policy = '/usr/sbin/policy-rc.d';
    const ownPolicy = !existsSync(policy);
    if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    try {
      const aptOpts = ['-o', 'DPkg::Lock::Timeout=300', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold'];
      await run('apt-get', [...aptOpts, 'update', '-q'], logFile, { env });
      await run('apt-get', [...aptOpts, 'install', '-y', '-q', '--no-install-recommends', ...still], logFile, { env });
    } finally {
      if (ownPolicy) rmSync(policy, { force: true });
    }
    const failed = requirements.filter((r) => !r.present());
    if (failed.length > 0) throw new Error(`apt-get finished but ${failed.map((r) => r.what).join(', ')} still missing; see ${logFile}`);
  });
}

const POM = fileURLToPath(new URL('./kafka/pom.xml', import.meta.url));

export function kafkaLibsDir(cacheDir: string, version: string): string {
  return join(cacheDir, 'kafka', version, 'libs');
}

/** Resolves the broker jars for `version` into <cache>/kafka/<version>/libs once (shared by all stacks). */
export async function ensureKafkaLibs(cacheDir: string, version: string, log: Log): Promise<string> {
  const libs = kafkaLibsDir(cacheDir, version);
  const complete = join(libs, '.complete');
  if (existsSync(complete)) return libs;
  mkdirSync(join(cacheDir, 'locks'), { recursive: true });
  return withLock(join(cacheDir, 'locks', `kafka-${version}.lock`), 15 * 60_000, 'Kafka jar download', async () => {
    if (existsSync(complete)) return libs;
    const logFile = join(cacheDir, `maven-kafka-${version}.log`);
    log(`downloading Kafka ${version} broker jars from Maven Central (log ${logFile})`);
    const tmp = libs + '.tmp';
    rmSync(tmp, { recursive: true, force: true });
    await run(
      'mvn',
      [
        '-B', '-q', '-f', POM,
        `-Dmaven.repo.local=${join(cacheDir, 'm2')}`,
        `-Dkafka.version=${version}`,
        'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${tmp}`,
      ],
      logFile,
    );
    const jars = readdirSync(tmp);
    if (!jars.includes(`kafka_2.13-${version}.jar`)) throw new Error(`Maven did not fetch kafka_2.13-${version}.jar into ${tmp}; see ${logFile}`);
    const bindings = jars.filter((j) => /^(log4j-slf4j|slf4j-reload4j|slf4j-log4j12|logback-classic)/.test(j));
    if (bindings.length !== 1) throw new Error(`expected exactly one slf4j binding among the Kafka jars, found: ${bindings.join(', ') || 'none'}`);
    rmSync(libs, { recursive: true, force: true });
    renameSync(tmp, libs);
    writeFileSync(complete, new Date().toISOString() + '\n');
    return libs;
  });
}
