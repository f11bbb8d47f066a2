// Versioned SQL migrations: NNN_name.sql files applied once, in order, each in its own transaction,
// recorded in schema_migrations with a checksum. A session advisory lock makes concurrent runs
// (several pods starting at once) wait for each other instead of racing.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Logger } from '../logging.js';
import { pgConnectionConfig, postgresConnection, type PostgresSettings } from './connection.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
/** Arbitrary but fixed: every flux-gate migrate process contends on this one advisory lock. */
const ADVISORY_LOCK_KEY = 727_100_001;
const FILE_PATTERN = /^(\d+)_([a-z0-9_]+)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

export function loadMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  const out: Migration[] = [];
  for (const file of readdirSync(dir)) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE_PATTERN.exec(file);
    if (!m) throw new MigrationError(`migration file ${file} must be named NNN_lowercase_name.sql`);
    const sql = readFileSync(`${dir}/${file}`, 'utf8');
    out.push({ version: Number(m[1]), name: file, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  out.sort((a, b) => a.version - b.version);
  for (let i = 1; i < out.length; i++)
    if (out[i]!.version === out[i - 1]!.version)
      throw new MigrationError(`migrations ${out[i - 1]!.name} and ${out[i]!.name} share version ${out[i]!.version}`);
  return out;
}

interface AppliedRow {
  version: number;
  name: string;
  checksum: string;
}

/** Which files still need applying; throws if an applied migration was edited or removed. */
export function planMigrations(files: Migration[], applied: AppliedRow[]): Migration[] {
  const byVersion = new Map(files.map((f) => [f.version, f]));
  for (const row of applied) {
    const file = byVersion.get(row.version);
    if (!file)
      throw new MigrationError(
        `migration ${row.name} (version ${row.version}) is recorded as applied but its file is missing; ` +
          'this binary is older than the database schema',
      );
    if (file.checksum !== row.checksum)
      throw new MigrationError(
        `migration ${file.name} changed after it was applied (recorded sha256 ${row.checksum.slice(0, 12)}…, ` +
          `file ${file.checksum.slice(0, 12)}…); never edit an applied migration, add a new one`,
      );
  }
  const done = new Set(applied.map((r) => r.version));
  return files.filter((f) => !done.has(f.version));
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: number;
}

export interface MigrateOptions {
  dir?: string;
  logger?: Logger;
  /** Keep retrying the first connection this long (PostgreSQL still starting). */
  connectTimeoutMs?: number;
}

async function connectWithRetry(target: string | PostgresSettings, timeoutMs: number, logger?: Logger): Promise<pg.Client> {
  const conn = postgresConnection(target);
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ ...pgConnectionConfig(conn), application_name: 'flux-gate-migrate' });
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => {});
      if (Date.now() >= deadline) throw err;
      logger?.warn({ attempt, err: (err as Error).message }, 'PostgreSQL not reachable yet, retrying');
      await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * 2 ** attempt)));
    }
  }
}

/** `target`: a URL, or the PostgreSQL variables (DATABASE_URL and the PG_SSL* TLS settings). */
export async function migrate(target: string | PostgresSettings, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const files = loadMigrations(opts.dir);
  const client = await connectWithRetry(target, opts.connectTimeoutMs ?? 30_000, opts.logger);
  try {
    await client.query('SELECT pg_advisory_lock($1)', [ADVISORY_LOCK_KEY]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    integer PRIMARY KEY,
        name       text NOT NULL,
        checksum   text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const { rows } = await client.query<AppliedRow>('SELECT version, name, checksum FROM schema_migrations ORDER BY version');
      const pending = planMigrations(files, rows);
      for (const m of pending) {
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [
            m.version,
            m.name,
            m.checksum,
          ]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK').catch(() => {});
          throw new MigrationError(`migration ${m.name} failed and was rolled back: ${(err as Error).message}`);
        }
        opts.logger?.info({ migration: m.name }, 'migration applied');
      }
      return { applied: pending.map((m) => m.name), alreadyApplied: rows.length };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [ADVISORY_LOCK_KEY]).catch(() => {});
    }
  } finally {
    await client.end().catch(() => {});
  }
}
