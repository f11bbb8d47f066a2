// npm run stack:up | stack:env | stack:down | stack:status — see docs/stack.md.
import { writeFileSync } from 'node:fs';
import { importAppImage } from './node/image.js';
import { stackPaths } from './paths.js';
import { kafkaJitFlags } from './services/kafka.js';
import { down, stackEnv, status, StackUpError, toShellExports, up, type ComponentName } from './stack.js';

const USAGE = `usage: tsx tools/stack/cli.ts <command> [flags]
  up [--no-k8s] [--node] [--started-file=F]
                                     start Redis, PostgreSQL, Kafka (and the Kubernetes control plane)
                                     on 127.0.0.1; --node also a real node (kubelet, containerd; root);
                                     F receives the components this call started
  image                              build the Flux-Gate image from dist/ and import it into the node
  env                                print export lines: eval "$(npm run -s stack:env)"
  status                             show each service (exit 3 when one is not running)
  down [--purge] [--only=a,b]        stop the stack's processes (--only: these of redis, postgres, kafka,
                                     controlplane, node; --purge also deletes its data and state)
Environment: FLUXGATE_STACK_NO_K8S=1 (same as --no-k8s), FLUXGATE_STACK_NODE=1 (same as --node), FLUXGATE_STACK_ID (default: hash of the repo path), FLUXGATE_CACHE_DIR (default ~/.cache/flux-gate),
             FLUXGATE_KAFKA_VERSION (default 4.1.2, used when the stack is first created),
             FLUXGATE_KAFKA_JIT=c1|c2 (the broker's JIT when it starts: c1 = C1 only, fast start, the default; c2 = full tiered, npm run bench;
             unset, a restart keeps the JIT the broker had, until down)`;

const log = (line: string) => process.stderr.write(`[stack] ${line}\n`);

async function main(argv: string[]): Promise<number> {
  const [command, ...flags] = argv;
  const known: Record<string, string[]> = { up: ['--no-k8s', '--node', '--started-file'], image: [], env: [], status: [], down: ['--purge', '--only'] };
  if (command === undefined || !(command in known)) {
    process.stderr.write(`${command === undefined ? 'missing command' : `unknown command "${command}"`}\n${USAGE}\n`);
    return 2;
  }
  const unknown = flags.filter((f) => !known[command]!.includes(f.split('=')[0]!));
  if (unknown.length > 0) {
    process.stderr.write(`unknown flag(s) for ${command}: ${unknown.join(' ')}\n${USAGE}\n`);
    return 2;
  }
  const value = (flag: string) => flags.find((f) => f.startsWith(`${flag}=`))?.slice(flag.length + 1);
  const paths = stackPaths();
  switch (command) {
    case 'up': {
      const t0 = Date.now();
      kafkaJitFlags(); // a bad FLUXGATE_KAFKA_JIT fails here, before anything starts
      log(`stack "${paths.stackId}" (state ${paths.stateDir})`);
      const startedFile = value('--started-file');
      if (startedFile) writeFileSync(startedFile, '');
      const node = flags.includes('--node') || process.env.FLUXGATE_STACK_NODE === '1';
      const res = await up({ k8s: node || (!flags.includes('--no-k8s') && process.env.FLUXGATE_STACK_NO_K8S !== '1'), node, log }).catch((err: unknown) => {
        if (startedFile && err instanceof StackUpError) writeFileSync(startedFile, err.started.join(',') + '\n');
        throw err;
      });
      if (startedFile) writeFileSync(startedFile, res.started.join(',') + '\n');
      log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; started: ${res.started.join(', ') || 'nothing (all running)'}`);
      log('use it: eval "$(npm run -s stack:env)"');
      return 0;
    }
    case 'image': {
      const { ref, seconds } = await importAppImage(paths.stateDir, log);
      process.stdout.write(`${ref}\n`);
      log(`image ${ref} in the node's containerd (${seconds} s)`);
      return 0;
    }
    case 'env':
      process.stdout.write(toShellExports(await stackEnv(paths.stateDir)));
      return 0;
    case 'status': {
      const s = await status(paths.stateDir);
      const rows = s.services.map((x) => `${x.name.padEnd(12)} ${x.status.padEnd(14)} pid ${String(x.pid ?? '-').padEnd(8)} ${x.url}  log ${x.log}`);
      const cp = s.controlPlane;
      rows.push(
        `${'node'.padEnd(12)} ${(s.node.running ? 'running' : 'stopped').padEnd(14)} ${s.node.record ? `${s.node.record.nodeName} ${s.node.record.nodeIp}` : ''}`,
        `${'controlplane'.padEnd(12)} ${(cp.available ? (cp.running ? 'running' : 'stopped') : 'not available').padEnd(14)} ${cp.kubeconfig ? `KUBECONFIG=${cp.kubeconfig}` : ''}`,
      );
      process.stdout.write(`stack "${s.state.stackId}" — state ${s.state.stateDir}\n${rows.join('\n')}\n`);
      const allUp = s.services.every((x) => x.status === 'running') && (!cp.available || cp.running);
      return allUp ? 0 : 3;
    }
    case 'down': {
      const only = value('--only');
      const components = only === undefined ? undefined : only.split(',').filter((c) => c !== '');
      const valid = ['redis', 'postgres', 'kafka', 'controlplane', 'node'];
      const bad = components?.filter((c) => !valid.includes(c)) ?? [];
      if (bad.length > 0) {
        process.stderr.write(`--only: unknown component(s) ${bad.join(', ')}; choose from ${valid.join(', ')}\n`);
        return 2;
      }
      if (components?.length === 0) {
        log('down --only= names nothing: nothing to stop');
        return 0;
      }
      await down(paths.stateDir, { purge: flags.includes('--purge'), only: components as ComponentName[] | undefined, log });
      return 0;
    }
  }
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`[stack] FAILED: ${err.message}\n`);
    process.exit(1);
  },
);
