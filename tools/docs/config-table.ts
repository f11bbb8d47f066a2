// Rewrites the configuration table in README.md from the declared variables.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigTable, TABLE_END, TABLE_START } from './config-catalog.js';

const path = new URL('../../README.md', import.meta.url);
const readme = readFileSync(path, 'utf8');
const start = readme.indexOf(TABLE_START);
const end = readme.indexOf(TABLE_END);
if (start < 0 || end < 0) throw new Error(`README.md lacks the markers ${TABLE_START} … ${TABLE_END}`);
writeFileSync(path, readme.slice(0, start) + renderConfigTable() + readme.slice(end + TABLE_END.length));
console.log('README.md configuration table updated');
