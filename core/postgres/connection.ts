// The one builder of PostgreSQL connection settings: DATABASE_URL plus TLS, with libpq's sslmode
// semantics. Invariant: what a process gets is what libpq would do with the same sslmode, never
// node-postgres's own reading of the URL (pg-connection-string 2.x treats sslmode=require and
// verify-ca as verify-full unless uselibpqcompat=true): the ssl parameters are taken out of the URL
// here and turned into Node TLS options, so pg never sees them.
//   disable     no TLS
//   require     TLS, the server certificate is not checked — unless a CA file is given, then the
//               chain is checked as with verify-ca (libpq does the same for compatibility)
//   verify-ca   TLS, the chain must lead to the CA file; the host name is not checked
//   verify-full TLS, the chain must lead to the CA file and the certificate must name the host
// sslrootcert=system (libpq 16): Node's public CAs instead of a file, only with verify-full.
// `prefer` and `allow` are refused: node-postgres cannot fall back between TLS and plain text.
// Absent everywhere = disable (as before; libpq's own default is prefer).
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type pg from 'pg';
import { ConfigError } from '../config/env.js';

export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof SSL_MODES)[number];

/** The variables a process that opens PostgreSQL reads (core/config/variables.ts declares them). */
export interface PostgresSettings {
  DATABASE_URL: string;
  PG_SSLMODE?: string;
  PG_SSLROOTCERT?: string;
  PG_SSLCERT?: string;
  PG_SSLKEY?: string;
}

/** What pg.Pool / pg.Client take: the URL without its ssl parameters, and the TLS options. */
export interface PostgresConnection {
  connectionString: string;
  ssl: false | ConnectionOptions;
  sslmode: SslMode;
}

/** URL parameter → the variable that may say the same (both set and different = an error). */
const URL_PARAMS = { sslmode: 'PG_SSLMODE', sslrootcert: 'PG_SSLROOTCERT', sslcert: 'PG_SSLCERT', sslkey: 'PG_SSLKEY' } as const;
type FileVar = 'PG_SSLROOTCERT' | 'PG_SSLCERT' | 'PG_SSLKEY';
/** node-postgres's own switches: they would re-introduce its non-libpq reading of sslmode. */
const REFUSED_PARAMS = ['ssl', 'uselibpqcompat', 'sslpassword', 'sslcrl', 'sslnegotiation'];

type ReadFile = (path: string) => Buffer;
/** libpq's sslrootcert=system: trust the public CAs (Node's bundled list). */
const SYSTEM_CAS = 'system';

/**
 * Settings from the variables and the URL, with every file read now, so a process fails at start
 * (ConfigError: exit 78) naming the variable, instead of at its first query. A bare URL = no PG_* variable.
 */
export function postgresConnection(target: string | PostgresSettings, readFile: ReadFile = readFileSync): PostgresConnection {
  const settings: PostgresSettings = typeof target === 'string' ? { DATABASE_URL: target } : target;
  const problems: string[] = [];
  const { url, fromUrl } = splitUrl(settings.DATABASE_URL, problems);
  const pick = (param: keyof typeof URL_PARAMS): string | undefined => {
    const name = URL_PARAMS[param];
    const env = settings[name] || undefined;
    const inUrl = fromUrl[param];
    if (env !== undefined && inUrl !== undefined && env !== inUrl)
      problems.push(`${name} and the ${param} parameter of DATABASE_URL disagree: set one of them`);
    return env ?? inUrl;
  };
  const mode = pick('sslmode') ?? 'disable';
  const files = { PG_SSLROOTCERT: pick('sslrootcert'), PG_SSLCERT: pick('sslcert'), PG_SSLKEY: pick('sslkey') };
  if (!(SSL_MODES as readonly string[]).includes(mode)) {
    const hint = mode === 'prefer' || mode === 'allow' ? ' (node-postgres cannot fall back between TLS and plain text: choose require or disable)' : '';
    problems.push(`sslmode must be one of ${SSL_MODES.join(', ')}, got ${JSON.stringify(mode)}${hint}`);
  }
  checkCombination(mode, files, problems);
  const read = (name: FileVar): Buffer | undefined => {
    const path = files[name];
    if (path === undefined || (name === 'PG_SSLROOTCERT' && path === SYSTEM_CAS)) return undefined;
    try {
      return readFile(path);
    } catch (err) {
      problems.push(`${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      return undefined;
    }
  };
  const ca = read('PG_SSLROOTCERT');
  const cert = read('PG_SSLCERT');
  const key = read('PG_SSLKEY');
  if (problems.length) throw new ConfigError(problems);
  const sslmode = mode as SslMode;
  return { connectionString: url, sslmode, ssl: tlsOptions(sslmode, { ca, cert, key }) };
}

/** The Pool/Client options for a connection (spread them into pg's config). */
export function pgConnectionConfig(conn: PostgresConnection): Pick<pg.ClientConfig, 'connectionString' | 'ssl'> {
  return { connectionString: conn.connectionString, ssl: conn.ssl };
}

function splitUrl(raw: string, problems: string[]): { url: string; fromUrl: Partial<Record<keyof typeof URL_PARAMS, string>> } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    problems.push('DATABASE_URL must be a URL');
    return { url: raw, fromUrl: {} };
  }
  const fromUrl: Partial<Record<keyof typeof URL_PARAMS, string>> = {};
  for (const param of Object.keys(URL_PARAMS) as Array<keyof typeof URL_PARAMS>) {
    const v = url.searchParams.get(param);
    if (v === null) continue;
    fromUrl[param] = v;
    url.searchParams.delete(param);
  }
  for (const param of REFUSED_PARAMS)
    if (url.searchParams.has(param)) problems.push(`DATABASE_URL: the ${param} parameter is not supported (use sslmode, PG_SSLMODE and the PG_SSL* files)`);
  // Untouched unless a parameter was taken out (re-serializing could re-encode the others).
  return { url: Object.keys(fromUrl).length ? url.toString() : raw, fromUrl };
}

function checkCombination(mode: string, files: Record<FileVar, string | undefined>, problems: string[]): void {
  if ((mode === 'verify-ca' || mode === 'verify-full') && files.PG_SSLROOTCERT === undefined)
    problems.push(`sslmode ${mode} needs PG_SSLROOTCERT (or sslrootcert in DATABASE_URL): the CA file the server certificate must lead to`);
  if (files.PG_SSLROOTCERT === SYSTEM_CAS && mode !== 'verify-full')
    problems.push(`PG_SSLROOTCERT=system (the public CAs) needs sslmode verify-full, got ${mode}: any public certificate would otherwise pass`);
  if ((files.PG_SSLCERT === undefined) !== (files.PG_SSLKEY === undefined))
    problems.push('PG_SSLCERT and PG_SSLKEY go together: set both (the client certificate and its key) or neither');
  if (mode === 'disable') {
    const given = (Object.keys(files) as FileVar[]).filter((n) => files[n] !== undefined);
    if (given.length) problems.push(`${given.join(', ')} set but sslmode is disable: set PG_SSLMODE (require, verify-ca or verify-full) or remove them`);
  }
}

function tlsOptions(mode: SslMode, f: { ca?: Buffer; cert?: Buffer; key?: Buffer }): false | ConnectionOptions {
  if (mode === 'disable') return false;
  const client = f.cert && f.key ? { cert: f.cert, key: f.key } : {};
  // require without a CA file: encrypt only (libpq does not check the certificate either).
  if (mode === 'require' && !f.ca) return { ...client, rejectUnauthorized: false };
  // The chain is checked by Node (rejectUnauthorized) against the file, or its public CAs for
  // sslrootcert=system; verify-full adds Node's host check against the SANs (pg passes the host it
  // dials), the other modes skip it.
  const chain: ConnectionOptions = { ...client, ...(f.ca ? { ca: f.ca } : {}), rejectUnauthorized: true };
  return mode === 'verify-full' ? chain : { ...chain, checkServerIdentity: () => undefined };
}
