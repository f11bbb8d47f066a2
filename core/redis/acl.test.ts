// The ACL key patterns cover every key keys.ts builds, and only Flux-Gate's; the README lists the rules as they are.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ACL_KEY_PATTERNS, SENTINEL_ACL_RULES, aclCommands, aclRules } from './acl.js';
import { newOrderId, orderStatusKey, saleKeys } from './keys.js';

/** Redis glob as ACL key patterns use it (only `*` appears in ours). */
const matches = (pattern: string, key: string) => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(key);
const granted = (key: string) => ACL_KEY_PATTERNS.some((p) => matches(p, key));

describe('Redis ACL', () => {
  it('grants every key Flux-Gate builds', () => {
    const k = saleKeys('sale-1');
    for (const key of [k.stock, k.meta, k.epoch, k.rate, k.queue, k.idem('a:b'), k.user('u-1'), orderStatusKey(newOrderId('sale-1'))]) expect(granted(key), key).toBe(true);
  });

  it('grants no other key', () => {
    for (const key of ['other', 'fg:', 'fg:x', 'fgx:{a}:stock', 'session:{a}:x']) expect(granted(key), key).toBe(false);
  });

  it('grants every command a Lua script calls, to both users (either may run any script)', () => {
    const dir = new URL('./lua/', import.meta.url);
    const called = new Set<string>();
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.lua')))
      for (const m of readFileSync(new URL(f, dir), 'utf8').matchAll(/redis\.p?call\(\s*'([A-Za-z]+)'/g)) called.add(m[1]!.toLowerCase());
    expect(called.size).toBeGreaterThan(5);
    for (const p of ['api', 'operator'] as const) expect([...called].filter((c) => !aclCommands(p).includes(c)), p).toEqual([]);
  });

  it('never grants a dangerous command', () => {
    for (const p of ['api', 'operator'] as const)
      for (const c of ['flushall', 'flushdb', 'keys', 'config', 'debug', 'acl', 'shutdown', 'script|flush', 'client|kill', 'monitor'])
        expect(aclCommands(p)).not.toContain(c);
  });

  it('the README shows the rules of each user as they are', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toContain(`user fluxgate-api on >PASSWORD ${aclRules('api')}`);
    expect(readme).toContain(`user fluxgate-operator on >PASSWORD ${aclRules('operator')}`);
    expect(readme).toContain(`user fluxgate on >PASSWORD ${SENTINEL_ACL_RULES}`);
  });
});
