// npm run stack:up | stack:env | stack:down | stack:status — see docs/stack.md.
import { stackPaths } from './paths.js';
import { down, stackEnv, status, toShellExports, up } from './stack.js';

const USAGE = `usage: tsx e2e/stack/cli.ts <command> [flags]
  up [--no-k8s]     start Redis, PostgreSQL, Kafka (and etcd + kube-apiserver) on 127.0.0.1
  env               print export lines: eval "$(npm run -s stack:env)"
  status            show each service
  down [--purge]    stop everything this stack started (--purge also deletes its data)
Environment: FLUXGATE_STACK_ID (default: hash of the repo path), FLUXGATE_CACHE_DIR (default ~/.cache/flux-gate),
             FLUXGATE_KAFKA_VERSION (default 4.1.2, used when the stack is first created)`;

const log = (line: string) => process.stderr.write(`[stack] ${line}\n`);

async function main(argv: string[]): Promise<number> {
  const [command, ...flags] = argv;
  const known: Record<string, string[]> = { up: ['--no-k8s'], env: [], status: [], down: ['--purge'] };
  if (command === undefined || !(command in known)) {
    process.stderr.write(`${command === undefined ? 'missing command' : `unknown command "${command}"`}\n${USAGE}\n`);
    return 2;
  }
  const unknown = flags.filter((f) => !known[command]!.includes(f));
  if (unknown.length > 0) {
    process.stderr.write(`unknown flag(s) for ${command}: ${unknown.join(' ')}\n${USAGE}\n`);
    return 2;
  }
  const paths = stackPaths();
  switch (command) {
    case 'up': {
      const t0 = Date.now();
      log(`stack "${paths.stackId}" (state ${paths.stateDir})`);
      const res = await up({ k8s: !flags.includes('--no-k8s'), log });
      log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; started: ${res.started.join(', ') || 'nothing (all running)'}`);
      log('use it: eval "$(npm run -s stack:env)"');
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
        `${'controlplane'.padEnd(12)} ${(cp.available ? (cp.running ? 'running' : 'stopped') : 'not available').padEnd(14)} ${cp.kubeconfig ? `KUBECONFIG=${cp.kubeconfig}` : ''}`,
      );
      process.stdout.write(`stack "${s.state.stackId}" — state ${s.state.stateDir}\n${rows.join('\n')}\n`);
      return 0;
    }
    case 'down':
      await down(paths.stateDir, { purge: flags.includes('--purge'), log });
      return 0;
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
