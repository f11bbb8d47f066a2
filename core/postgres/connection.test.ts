// The sslmode table of core/postgres/connection.ts, libpq's semantics, on fake files (pure logic;
// the same modes against a real server: e2e/worker/postgres-tls.test.ts).
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/env.js';
import { postgresConnection } from './connection.js';

const URL = 'postgres://u:p%40ss@db.example:5432/shop';
const files: Record<string, string> = { '/ca.pem': 'CA', '/c.pem': 'CERT', '/k.pem': 'KEY' };
const readFile = (path: string): Buffer => {
  if (!(path in files)) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return Buffer.from(files[path]!);
};
const conn = (s: Record<string, string>) => postgresConnection({ DATABASE_URL: URL, ...s }, readFile);

describe('postgresConnection: libpq sslmode semantics', () => {
  it('absent everywhere = disable, and the URL is passed on untouched', () => {
    expect(conn({})).toEqual({ connectionString: URL, sslmode: 'disable', ssl: false });
  });

  it('require without a CA: encrypted, certificate not checked', () => {
    expect(conn({ PG_SSLMODE: 'require' }).ssl).toEqual({ rejectUnauthorized: false });
  });

  it('require with a CA file checks the chain, not the host (as libpq does)', () => {
    const ssl = conn({ PG_SSLMODE: 'require', PG_SSLROOTCERT: '/ca.pem' }).ssl as Record<string, unknown>;
    expect(ssl).toMatchObject({ rejectUnauthorized: true, ca: Buffer.from('CA') });
    expect(typeof ssl.checkServerIdentity).toBe('function');
  });

  it('verify-ca checks the chain and skips the host check; verify-full keeps Node’s host check', () => {
    const ca = conn({ PG_SSLMODE: 'verify-ca', PG_SSLROOTCERT: '/ca.pem' }).ssl as Record<string, unknown>;
    expect(ca).toMatchObject({ rejectUnauthorized: true, ca: Buffer.from('CA') });
    expect((ca.checkServerIdentity as () => unknown)()).toBeUndefined();
    const full = conn({ PG_SSLMODE: 'verify-full', PG_SSLROOTCERT: '/ca.pem' }).ssl as Record<string, unknown>;
    expect(full).toEqual({ rejectUnauthorized: true, ca: Buffer.from('CA') });
  });

  it('sslrootcert=system (libpq 16): Node’s public CAs, only with verify-full', () => {
    expect(conn({ PG_SSLMODE: 'verify-full', PG_SSLROOTCERT: 'system' }).ssl).toEqual({ rejectUnauthorized: true });
    expect(() => conn({ PG_SSLMODE: 'verify-ca', PG_SSLROOTCERT: 'system' })).toThrow(/PG_SSLROOTCERT=system \(the public CAs\) needs sslmode verify-full, got verify-ca/);
  });

  it('a client certificate and key are presented', () => {
    const ssl = conn({ PG_SSLMODE: 'require', PG_SSLCERT: '/c.pem', PG_SSLKEY: '/k.pem' }).ssl as Record<string, unknown>;
    expect(ssl).toMatchObject({ cert: Buffer.from('CERT'), key: Buffer.from('KEY'), rejectUnauthorized: false });
  });

  it('takes sslmode and the files from the URL and removes them from what pg sees', () => {
    const c = postgresConnection({ DATABASE_URL: `${URL}?sslmode=verify-full&sslrootcert=/ca.pem&application_name=x` }, readFile);
    expect(c.sslmode).toBe('verify-full');
    expect(c.connectionString).toBe('postgres://u:p%40ss@db.example:5432/shop?application_name=x');
    expect(c.ssl).toEqual({ rejectUnauthorized: true, ca: Buffer.from('CA') });
  });

  it('the same setting in the URL and a variable is fine; different values are refused', () => {
    expect(postgresConnection({ DATABASE_URL: `${URL}?sslmode=require`, PG_SSLMODE: 'require' }, readFile).sslmode).toBe('require');
    expect(() => postgresConnection({ DATABASE_URL: `${URL}?sslmode=require`, PG_SSLMODE: 'verify-full', PG_SSLROOTCERT: '/ca.pem' }, readFile)).toThrow(
      /PG_SSLMODE and the sslmode parameter of DATABASE_URL disagree/,
    );
  });

  it.each([
    [{ PG_SSLMODE: 'verify-full' }, /sslmode verify-full needs PG_SSLROOTCERT/],
    [{ PG_SSLMODE: 'verify-ca' }, /sslmode verify-ca needs PG_SSLROOTCERT/],
    [{ PG_SSLMODE: 'prefer' }, /sslmode must be one of disable, require, verify-ca, verify-full, got "prefer" \(node-postgres cannot fall back/],
    [{ PG_SSLMODE: 'no-verify' }, /sslmode must be one of .*got "no-verify"/],
    [{ PG_SSLMODE: 'verify-full', PG_SSLROOTCERT: '/missing.pem' }, /PG_SSLROOTCERT: cannot read \/missing\.pem \(ENOENT\)/],
    [{ PG_SSLMODE: 'require', PG_SSLCERT: '/c.pem' }, /PG_SSLCERT and PG_SSLKEY go together/],
    [{ PG_SSLMODE: 'require', PG_SSLCERT: '/c.pem', PG_SSLKEY: '/nope.pem' }, /PG_SSLKEY: cannot read \/nope\.pem/],
    [{ PG_SSLROOTCERT: '/ca.pem' }, /PG_SSLROOTCERT set but sslmode is disable/],
  ])('refuses %j with a clear error', (settings, message) => {
    expect(() => conn(settings)).toThrow(ConfigError);
    expect(() => conn(settings)).toThrow(message);
  });

  it.each(['ssl=true', 'uselibpqcompat=true', 'sslcrl=/crl.pem'])('refuses node-postgres’s own URL switch %s', (param) => {
    expect(() => postgresConnection({ DATABASE_URL: `${URL}?${param}` }, readFile)).toThrow(/DATABASE_URL: the \w+ parameter is not supported/);
  });

  it('never echoes the password of the URL in an error', () => {
    expect(() => conn({ PG_SSLMODE: 'verify-full' })).toThrow(expect.objectContaining({ message: expect.not.stringContaining('p%40ss') }));
  });
});
