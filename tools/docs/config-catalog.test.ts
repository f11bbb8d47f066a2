import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { allVariables, renderConfigTable, TABLE_END, TABLE_START } from './config-catalog.js';

describe('README configuration table', () => {
  it('matches the variables the code declares (run `npm run docs:config` after changing one)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf(TABLE_START);
    const end = readme.indexOf(TABLE_END);
    expect(start, 'README has the config table markers').toBeGreaterThanOrEqual(0);
    expect(readme.slice(start, end + TABLE_END.length)).toBe(renderConfigTable());
  });

  it('documents every variable with a description and at least one process', () => {
    for (const [name, spec] of Object.entries(allVariables)) {
      expect(spec.description.length, name).toBeGreaterThan(10);
      expect(spec.usedBy.length, name).toBeGreaterThan(0);
    }
  });
});
