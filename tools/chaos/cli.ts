// Entry of `npm run chaos`: settings from CHAOS_* variables, one run, exit 0 (no violation),
// 1 (a violation: seed and first offending order printed) or 2 (the harness itself failed).
import { runChaos, settingsFromEnv } from './main.js';

runChaos(settingsFromEnv(process.env)).then(
  ({ verdict }) => process.exit(verdict.ok ? 0 : 1),
  (e: Error) => {
    process.stderr.write(`chaos: harness failed: ${e.stack ?? e.message}\n`);
    process.exit(2);
  },
);
