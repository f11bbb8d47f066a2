// Copies non-TypeScript runtime assets (Lua scripts, SQL migrations, static pages) next to the compiled JS.
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const assetDirs = ['core/redis/lua', 'core/postgres/migrations', 'api/static'];
for (const dir of assetDirs) {
  if (existsSync(dir)) cpSync(dir, join('dist', dir), { recursive: true });
}
