import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout, one logger per process, with the component name on every line. */
export function createLogger(component: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { component }, redact: ['req.headers.authorization', 'databaseUrl'] });
}
