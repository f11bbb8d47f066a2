// One wording for "a backend failed": `Redis unavailable: <its error>`, the backend's error kept
// as `cause` so a log line or a 503 body says which store failed and the stack trace says why.

export type Backend = 'Redis' | 'PostgreSQL' | 'Kafka';

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class Unavailable extends Error {
  constructor(
    readonly backend: Backend,
    cause: unknown,
    /** What it means for the caller, in parentheses after the backend (e.g. "product stored, not seeded; retry /init"). */
    context?: string,
  ) {
    super(`${backend} unavailable${context ? ` (${context})` : ''}: ${messageOf(cause)}`, { cause });
    this.name = 'Unavailable';
  }
}
