// flux-gate migrate: applies pending migrations and exits (an init container / Helm hook).
import { loadConfig, pick } from '../config/env.js';
import { POSTGRES_CONNECTION_VARS, connectionVars } from '../config/variables.js';
import { createLogger } from '../logging.js';
import { migrate } from './migrate.js';

export const migrateVars = pick(connectionVars, ...POSTGRES_CONNECTION_VARS, 'LOG_LEVEL');

export async function main(): Promise<void> {
  const config = loadConfig(migrateVars);
  const logger = createLogger('migrate', config.LOG_LEVEL);
  const result = await migrate(config, { logger });
  logger.info(
    { applied: result.applied, alreadyApplied: result.alreadyApplied },
    result.applied.length ? 'migrations applied' : 'schema up to date',
  );
}
