// Helpers for the chart tests: run helm/kubectl (the ones the local stack built, from PATH) and
// render the chart into plain objects.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const CHART = join(REPO, 'helm/flux-gate');
export const FIXTURES = join(REPO, 'e2e/helm/fixtures');
export const ALL_ON = join(FIXTURES, 'all-on.yaml');
/** Version the stack's apiserver reports; `helm template` needs it without a cluster. */
export const KUBE_VERSION = '1.36.3';

function onPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, binary))) return join(dir, binary);
  }
  return undefined;
}

/**
 * helm from PATH (`npm run stack:env` puts the stack's bin folder there), and kubectl from the
 * SAME folder: a kubectl that happens to be installed elsewhere may not match the apiserver.
 */
export function tools(): { helm: string; kubectl: string } {
  const helm = onPath('helm');
  if (!helm) throw new Error('helm is not on PATH: run the tests through `npm test` or `eval "$(npm run -s stack:env)"` first');
  const kubectl = join(dirname(helm), 'kubectl');
  if (!existsSync(kubectl)) throw new Error(`no kubectl next to ${helm}: expected the stack's bin folder`);
  return { helm, kubectl };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; never throws on a non-zero exit (tests assert on code and stderr). */
export function run(cmd: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024, env: process.env }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Like run, but throws with the command's stderr when it fails. */
export async function runOk(cmd: string, args: string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
  [key: string]: any;
}

export function parseManifests(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => {
      if (d.errors.length) throw new Error(`rendered YAML does not parse: ${d.errors[0]!.message}`);
      return d.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null && typeof o === 'object');
}

export interface TemplateOptions {
  valuesFiles?: string[];
  set?: string[];
  namespace?: string;
  /** --include-crds */
  crds?: boolean;
}

export function templateArgs(o: TemplateOptions = {}): string[] {
  const args = ['template', 'fg', CHART, '--namespace', o.namespace ?? 'shop', '--kube-version', KUBE_VERSION];
  for (const f of o.valuesFiles ?? []) args.push('--values', f);
  for (const s of o.set ?? []) args.push('--set', s);
  if (o.crds) args.push('--include-crds');
  return args;
}

export async function template(o: TemplateOptions = {}): Promise<K8sObject[]> {
  return parseManifests(await runOk(tools().helm, templateArgs(o)));
}

/** The pod template of a workload object, or undefined for non-workloads. */
export function podSpecOf(o: K8sObject): any | undefined {
  if (o.kind === 'Deployment' || o.kind === 'Job' || o.kind === 'StatefulSet' || o.kind === 'DaemonSet') return o.spec?.template?.spec;
  if (o.kind === 'Pod') return o.spec;
  return undefined;
}
