import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMigrations, MigrationError, planMigrations } from './migrate.js';

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fg-migrations-'));
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql);
  return dir;
}

describe('loadMigrations', () => {
  it('orders files by numeric version and checksums them', () => {
    const m = loadMigrations(dirWith({ '010_b.sql': 'SELECT 2;', '002_a.sql': 'SELECT 1;', 'README.md': 'x' }));
    expect(m.map((x) => [x.version, x.name])).toEqual([
      [2, '002_a.sql'],
      [10, '010_b.sql'],
    ]);
    expect(m[0]!.checksum).toMatch(/^[0-9a-f]{64}$/);
  });

  it('rejects badly named files and duplicate versions', () => {
    expect(() => loadMigrations(dirWith({ 'add-things.sql': '' }))).toThrow(/must be named NNN_lowercase_name\.sql/);
    expect(() => loadMigrations(dirWith({ '001_a.sql': '', '1_b.sql': '' }))).toThrow(/share version 1/);
  });

  it('ships the first migration', () => {
    expect(loadMigrations()[0]!.name).toBe('001_products_orders.sql');
  });
});

describe('planMigrations', () => {
  const files = loadMigrations(dirWith({ '001_a.sql': 'SELECT 1;', '002_b.sql': 'SELECT 2;' }));
  it('returns the files not yet applied, in order', () => {
    expect(planMigrations(files, []).map((m) => m.version)).toEqual([1, 2]);
    expect(planMigrations(files, [{ version: 1, name: '001_a.sql', checksum: files[0]!.checksum }]).map((m) => m.version)).toEqual([2]);
  });
  it('refuses when an applied migration changed', () => {
    expect(() => planMigrations(files, [{ version: 1, name: '001_a.sql', checksum: 'f'.repeat(64) }])).toThrow(
      /migration 001_a\.sql changed after it was applied .*add a new one/,
    );
  });
  it('refuses when an applied migration is missing', () => {
    expect(() => planMigrations(files, [{ version: 3, name: '003_c.sql', checksum: 'x' }])).toThrow(MigrationError);
  });
});
