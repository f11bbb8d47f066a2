#!/usr/bin/env node
// One image, one CLI: flux-gate api | worker | operator | migrate
import { ConfigError } from './core/config/env.js';

const commands: Record<string, { describe: string; load: () => Promise<{ main: () => Promise<void> }> }> = {
  api: { describe: 'serve the order API (Fastify)', load: () => import('./api/main.js') },
  worker: { describe: 'persist orders from Kafka into PostgreSQL', load: () => import('./worker/main.js') },
  operator: { describe: 'reconcile FlashSale resources (Kubernetes operator)', load: () => import('./operator/main.js') },
  migrate: { describe: 'apply PostgreSQL migrations (safe to run twice or concurrently)', load: () => import('./core/postgres/migrate-main.js') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)}${c.describe}`);
  return `usage: flux-gate <command>\n\ncommands:\n${lines.join('\n')}\n\nConfiguration comes from environment variables; see README.md.`;
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    console.error(`flux-gate: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  if (rest.length) {
    console.error(`flux-gate ${name}: unexpected arguments ${rest.join(' ')} (configuration is by environment variables)`);
    return 2;
  }
  try {
    await (await command.load()).main();
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`flux-gate ${name}: ${err.message}`);
      return 78; // EX_CONFIG
    }
    console.error(`flux-gate ${name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return 1;
  }
}

run(process.argv.slice(2)).then((code) => {
  if (code !== 0) process.exit(code);
});
