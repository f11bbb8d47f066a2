// Entry of `npm run chaos` (after the build): brings the local stack up (Redis, PostgreSQL, Kafka,
// the control plane), runs one chaos run from the CHAOS_* variables, stops what it started.
// Exit 0: no violation; 1: a violation (seed and first offending order printed); 2: the harness failed.
import { stackPaths } from '../stack/paths.js';
import { down, up, type ComponentName } from '../stack/stack.js';
import { runChaos, settingsFromEnv } from './main.js';

const log = (line: string) => process.stderr.write(`[chaos stack] ${line}\n`);

async function main(): Promise<number> {
  const settings = settingsFromEnv(process.env);
  let started: ComponentName[] = [];
  try {
    started = (await up({ k8s: true, log })).started;
    const { verdict } = await runChaos(settings);
    return verdict.ok ? 0 : 1;
  } finally {
    // A stack the developer already had running stays up; what this run started is stopped.
    if (started.length > 0 && process.env.FLUXGATE_KEEP_STACK !== '1') await down(stackPaths().stateDir, { only: started, log });
  }
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`chaos: harness failed: ${e.stack ?? e.message}\n`);
    process.exit(2);
  },
);
