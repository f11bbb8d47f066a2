// flux-gate migrate on a fresh database: applied once whatever the number of runs, sequential or
// concurrent, and refused when an applied file was edited.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations, migrate } from '../../core/postgres/migrate.js';
import { startComponent } from '../support/processes.js';
import { databaseUrl } from './support.js';

const dbName = `fg_migrate_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
let admin: pg.Client;
let url: string;

beforeAll(async () => {
  admin = new pg.Client({ connectionString: databaseUrl() });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const u = new URL(databaseUrl());
  u.pathname = `/${dbName}`;
  url = u.toString();
});

afterAll(async () => {
  await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await admin.end();
});

async function appliedRows(): Promise<Array<{ version: number; name: string }>> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query('SELECT version, name FROM schema_migrations ORDER BY version')).rows;
  } finally {
    await c.end();
  }
}

describe('migrate', () => {
  const files = loadMigrations().map((m) => m.name);

  it('three concurrent runs apply each migration exactly once, without error', async () => {
    const results = await Promise.all([migrate(url), migrate(url), migrate(url)]);
    // exactly one run applied everything; the two others found it done
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, 0, files.length]);
    expect(results.find((r) => r.applied.length > 0)!.applied).toEqual(files);
    expect(results.filter((r) => r.applied.length === 0).map((r) => r.alreadyApplied)).toEqual([files.length, files.length]);
    expect((await appliedRows()).map((r) => r.name)).toEqual(files);
  });

  it('`flux-gate migrate` run twice more changes nothing and exits 0', async () => {
    for (let i = 0; i < 2; i++) {
      const run = await startComponent('migrate', { DATABASE_URL: url }, { waitReady: false });
      expect(await run.exited).toBe(0);
      expect(run.lines.some((l) => l.includes('"msg":"schema up to date"'))).toBe(true);
    }
    expect((await appliedRows()).length).toBe(files.length);
  });

  it('refuses to run when an applied migration changed, naming the file', async () => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query("UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 1");
    await c.end();
    await expect(migrate(url)).rejects.toThrow(/migration 001_products_orders\.sql changed after it was applied/);
    const run = await startComponent('migrate', { DATABASE_URL: url }, { waitReady: false });
    expect(await run.exited).toBe(1);
    expect(run.lines.join('\n')).toContain('never edit an applied migration, add a new one');
  });
});
